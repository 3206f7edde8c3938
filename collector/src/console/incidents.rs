//! The incident queue and one incident: its facts, SLA clocks, timeline
//! and knowledge-base suggestions, and for the help desk the forms that
//! act on it (each a POST with the CSRF token, then back to the page).
//!
//! The queue reads one page at a time from the store
//! ([`crate::store::Store::incident_page`]), newest first, 50 a page;
//! the next page starts after the last incident shown, so a page costs
//! the same however deep it is.

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Person;
use super::layout::{self, Section};
use super::{ConsoleState, PageError, PageResult, blocking};
use crate::desk::kb::KbError;
use crate::desk::suppliers::incident_contacts;
use crate::desk::{ActError, StaffError};
use crate::helpers::day::Day;
use crate::incidents::lifecycle::StaffAction;
use crate::lookup::SlaState;
use crate::records::incident::{IncidentRecord, Priority, Status};
use crate::records::kb::Article;
use crate::store::{IncidentFilter, IncidentPage, Role, Store, StoreError};
use crate::suppliers::reports::SupplierContact;

/// Shown for the asset of an incident that is the fleet's (a contract, a licence).
const FLEET: &str = "the fleet (no one asset)";

/// Incidents on one page of the queue.
pub const PAGE: usize = 50;
/// Longest title search taken, in characters.
const MAX_SEARCH_CHARS: usize = 200;

pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/incidents", get(queue))
        .route("/incidents/{id}", get(show))
        .route("/incidents/{id}/{action}", post(act))
}

/// The queue's filters as given (every field as the form sends it).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct QueueQuery {
    status: String,
    priority: String,
    assignee: String,
    sla: String,
    asset: String,
    q: String,
    from: String,
}

const STATUSES: &[(&str, &str)] = &[
    ("active", "Active (open or acknowledged)"),
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
    ("closed", "Closed"),
    ("all", "All"),
];

const SLA_STATES: &[(&str, &str)] = &[
    ("", "Any"),
    ("ok", "Within target"),
    ("at_risk", "At risk"),
    ("breached", "Breached"),
];

/// The filters understood: the store's, the SLA state and the page.
#[derive(Debug, Default)]
struct Queue {
    filter: IncidentFilter,
    sla: Option<SlaState>,
    from: Option<u64>,
}

fn parse_queue(q: &QueueQuery, me: &Person) -> Result<Queue, String> {
    let mut filter = IncidentFilter::default();
    match q.status.trim() {
        "" | "active" => filter.active = true,
        "all" => {}
        s => {
            filter.status = Some(Status::from_name(s).ok_or_else(|| {
                format!(
                    "status `{s}` is not one of active, open, acknowledged, resolved, closed, all"
                )
            })?);
        }
    }
    filter.priority = match q.priority.trim() {
        "" => None,
        p => Some(
            Priority::ALL
                .into_iter()
                .find(|x| x.name().eq_ignore_ascii_case(p))
                .ok_or_else(|| format!("priority `{p}` is not one of P1, P2, P3, P4"))?,
        ),
    };
    filter.assignee = match q.assignee.trim() {
        "" => None,
        "none" => Some(None),
        "me" => Some(Some(me.name.clone())),
        name => Some(Some(name.to_owned())),
    };
    let text = q.q.trim();
    if text.chars().count() > MAX_SEARCH_CHARS {
        return Err(format!(
            "the title search is longer than {MAX_SEARCH_CHARS} characters"
        ));
    }
    filter.title_contains = Some(text.to_lowercase()).filter(|t| !t.is_empty());
    let sla = match q.sla.trim() {
        "" => None,
        s => Some(
            SlaState::from_name(s)
                .ok_or_else(|| format!("SLA state `{s}` is not one of ok, at_risk, breached"))?,
        ),
    };
    let from = match q.from.trim() {
        "" => None,
        f => Some(
            f.parse()
                .map_err(|_| format!("`{f}` is not an incident number to start the page at"))?,
        ),
    };
    Ok(Queue { filter, sla, from })
}

/// The queue's address with the filters of `q`, starting at `from`.
fn queue_href(q: &QueueQuery, from: Option<u64>) -> String {
    let mut parts = Vec::new();
    for (k, v) in [
        ("status", &q.status),
        ("priority", &q.priority),
        ("assignee", &q.assignee),
        ("sla", &q.sla),
        ("asset", &q.asset),
        ("q", &q.q),
    ] {
        if !v.trim().is_empty() {
            parts.push(format!("{k}={}", layout::query_value(v.trim())));
        }
    }
    if let Some(f) = from {
        parts.push(format!("from={f}"));
    }
    if parts.is_empty() {
        "/incidents".to_owned()
    } else {
        format!("/incidents?{}", parts.join("&"))
    }
}

/// A duration in the largest two units, e.g. `2 h 5 min`.
pub(super) fn span(ms: i64) -> String {
    let s = ms.unsigned_abs() / 1000;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min")
    } else {
        format!("{s} s")
    }
}

fn sla_class(s: SlaState) -> &'static str {
    match s {
        SlaState::Ok => "ok",
        SlaState::AtRisk => "warn",
        SlaState::Breached => "bad",
    }
}

/// The clock that runs now and how it stands: `ack in 25 min`,
/// `resolve 2 h overdue`; for a handled incident whether targets were met.
fn clock_text(r: &IncidentRecord, now: Timestamp) -> String {
    let (what, due) = match r.status {
        Status::Open => ("ack", r.acknowledge_due),
        Status::Acknowledged => ("resolve", r.resolve_due),
        Status::Resolved | Status::Closed => {
            return if r.acknowledge_breached || r.resolve_breached {
                "target missed".to_owned()
            } else {
                "targets met".to_owned()
            };
        }
    };
    let left = due.0 - now.0;
    if left >= 0 {
        format!("{what} in {}", span(left))
    } else {
        format!("{what} {} overdue", span(left))
    }
}

/// The accounts an incident can be given to: help desk and admins, not disabled.
fn staff_names(store: &Store) -> Result<Vec<String>, StoreError> {
    Ok(store
        .users()?
        .into_iter()
        .filter(|u| !u.disabled && matches!(u.role, Role::Helpdesk | Role::Admin))
        .map(|u| u.name)
        .collect())
}

/// Asset id → host name, for the assets of `incidents`.
fn hostnames(
    store: &Store,
    incidents: &[IncidentRecord],
) -> Result<BTreeMap<String, String>, StoreError> {
    let mut ids: Vec<&str> = incidents.iter().map(|r| r.asset.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(store
        .asset_metas(&ids)?
        .into_iter()
        .map(|m| (m.id, m.hostname))
        .collect())
}

/// An asset id for what was typed in the asset filter: an id or a host name.
fn find_asset(store: &Store, key: &str) -> Result<Option<String>, StoreError> {
    if let Some(m) = store.asset_metas(&[key])?.into_iter().next() {
        return Ok(Some(m.id));
    }
    Ok(store.asset_by_hostname(key)?.map(|a| a.meta.id))
}

struct QueueData {
    page: IncidentPage,
    hosts: BTreeMap<String, String>,
    staff: Vec<String>,
    problem: Option<String>,
}

async fn queue(
    State(state): State<ConsoleState>,
    me: Person,
    Query(q): Query<QueueQuery>,
) -> PageResult<Response> {
    let now = Timestamp::now();
    let parsed = parse_queue(&q, &me);
    let asset = q.asset.trim().to_owned();
    let data = blocking(&state, move |s| {
        let staff = staff_names(s)?;
        let mut queue = match parsed {
            Ok(queue) => queue,
            Err(problem) => {
                return Ok(QueueData {
                    page: IncidentPage::default(),
                    hosts: BTreeMap::new(),
                    staff,
                    problem: Some(problem),
                });
            }
        };
        if !asset.is_empty() {
            match find_asset(s, &asset)? {
                Some(id) => queue.filter.asset = Some(id),
                None => {
                    return Ok(QueueData {
                        page: IncidentPage::default(),
                        hosts: BTreeMap::new(),
                        staff,
                        problem: Some(format!("no asset has the id or host name `{asset}`")),
                    });
                }
            }
        }
        let also = queue
            .sla
            .map(|want| move |r: &IncidentRecord| SlaState::of(r, now) == want);
        let also = also.as_ref().map(|f| f as &dyn Fn(&IncidentRecord) -> bool);
        let page = s.incident_page(&queue.filter, also, queue.from, PAGE)?;
        let hosts = hostnames(s, &page.incidents)?;
        Ok(QueueData {
            page,
            hosts,
            staff,
            problem: None,
        })
    })
    .await?;
    let status = if data.problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = queue_body(&q, &data, now);
    Ok((
        status,
        layout::page(&me, Section::Incidents, "Incidents", body),
    )
        .into_response())
}

fn select(name: &str, label: &str, chosen: &str, options: &[(String, String)]) -> Markup {
    html! {
        label { (label)
            select name=(name) {
                @for (value, text) in options {
                    option value=(value) selected[value == chosen] { (text) }
                }
            }
        }
    }
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn queue_body(q: &QueueQuery, data: &QueueData, now: Timestamp) -> Markup {
    let status = if q.status.trim().is_empty() {
        "active"
    } else {
        q.status.trim()
    };
    let mut priorities = vec![(String::new(), "Any".to_owned())];
    priorities.extend(
        Priority::ALL
            .iter()
            .map(|p| (p.name().to_owned(), p.name().to_owned())),
    );
    let mut assignees = owned(&[("", "Anyone"), ("none", "Unassigned"), ("me", "Me")]);
    assignees.extend(data.staff.iter().map(|n| (n.clone(), n.clone())));
    let page = &data.page;
    let shown = page.incidents.len() as u64;
    let first = page.newer + 1;
    html! {
        form.inline.filters method="get" action="/incidents" {
            (select("status", "Status", status, &owned(STATUSES)))
            (select("priority", "Priority", q.priority.trim(), &priorities))
            (select("assignee", "Assignee", q.assignee.trim(), &assignees))
            (select("sla", "SLA", q.sla.trim(), &owned(SLA_STATES)))
            label { "Asset" input name="asset" value=(q.asset.trim()) placeholder="Host name or asset id"; }
            label { "Title" input type="search" name="q" value=(q.q.trim()) placeholder="Words in the title"; }
            button type="submit" { "Filter" }
        }
        @if let Some(p) = &data.problem {
            p.problem role="alert" { (p) }
        }
        p.count {
            @if page.matched == 0 {
                "No incident matches."
            } @else {
                (first) "–" (page.newer + shown) " of " (page.matched) " incident"
                (if page.matched == 1 { "" } else { "s" }) ", newest first"
            }
        }
        table.queue #queue data-refresh="30" {
            thead {
                tr {
                    th.num { "#" } th { "Priority" } th { "Title" } th { "Asset" } th { "Status" }
                    th { "Assignee" } th { "SLA" } th { "Opened" }
                }
            }
            tbody {
                @for r in &page.incidents {
                    @let sla = SlaState::of(r, now);
                    tr data-id=(r.id) {
                        td.num { a href={ "/incidents/" (r.id) } { (r.id) } }
                        td { span class={ "priority " (r.priority.name()) } { (r.priority.name()) } }
                        td { a href={ "/incidents/" (r.id) } { (r.title) } }
                        td { @if r.asset.is_empty() { span.muted { (FLEET) } } @else {
                            a href={ "/assets/" (layout::query_value(&r.asset)) } {
                            (data.hosts.get(&r.asset).map_or(r.asset.as_str(), String::as_str)) } } }
                        td { (r.status.name()) }
                        td { @if let Some(a) = &r.assignee { (a) } @else { span.muted { "—" } } }
                        td.sla { (layout::badge(sla_class(sla), sla.name())) " " span.clock { (clock_text(r, now)) } }
                        td { (layout::when(Some(r.opened_at))) }
                    }
                }
            }
        }
        nav.pages aria-label="Pages" {
            @if page.newer > 0 {
                a href=(queue_href(q, None)) { "« Newest" }
                a rel="prev" href=(queue_href(q, page.newer_page)) { "‹ Newer" }
            }
            @if let Some(older) = page.older {
                a rel="next" href=(queue_href(q, Some(older))) { "Older ›" }
            }
        }
    }
}

/// Everything one incident's page shows.
struct IncidentView {
    rec: IncidentRecord,
    hostname: Option<String>,
    articles: Vec<Article>,
    staff: Vec<String>,
    /// Whom to call: the supplier contracts of its asset or its contract.
    contacts: Vec<SupplierContact>,
}

fn parse_id(id: &str) -> PageResult<u64> {
    id.trim_start_matches('#')
        .parse()
        .map_err(|_| PageError::NotFound(format!("`{id}` is not an incident number")))
}

async fn load(state: &ConsoleState, id: u64) -> PageResult<IncidentView> {
    let view = blocking(state, move |s| {
        let Some(rec) = s.incident(id)? else {
            return Ok(None);
        };
        let hostname = s
            .asset_metas(&[rec.asset.as_str()])?
            .into_iter()
            .next()
            .map(|m| m.hostname);
        let mut articles = Vec::new();
        for a in &rec.kb_articles {
            if let Some(art) = a.parse().ok().map(|n| s.article(n)).transpose()?.flatten() {
                articles.push(art);
            }
        }
        let staff = staff_names(s)?;
        let today = Day::of_ms_saturating(Timestamp::now().0);
        let contacts = incident_contacts(s, &rec.asset, &rec.subject, today)?;
        Ok(Some(IncidentView {
            rec,
            hostname,
            articles,
            staff,
            contacts,
        }))
    })
    .await?;
    view.ok_or_else(|| PageError::NotFound(format!("no incident {id}")))
}

async fn show(
    State(state): State<ConsoleState>,
    me: Person,
    Path(id): Path<String>,
) -> PageResult<Markup> {
    let id = parse_id(&id)?;
    let view = load(&state, id).await?;
    Ok(incident_page(&me, &view, None, Timestamp::now()))
}

fn incident_page(
    me: &Person,
    view: &IncidentView,
    problem: Option<&str>,
    now: Timestamp,
) -> Markup {
    let r = &view.rec;
    let sla = SlaState::of(r, now);
    let title = format!("#{} {}", r.id, r.title);
    let body = html! {
        @if let Some(p) = problem {
            p.problem role="alert" { (p) }
        }
        section.facts aria-label="Incident" {
            dl.facts {
                dt { "Asset" } dd { @if r.asset.is_empty() { (FLEET) } @else {
                    a href={ "/assets/" (layout::query_value(&r.asset)) } {
                    (view.hostname.as_deref().unwrap_or(&r.asset)) } } }
                dt { "Rule" } dd { (r.rule) @if !r.subject.is_empty() { " · " (r.subject) } }
                dt { "Priority" } dd { span class={ "priority " (r.priority.name()) } { (r.priority.name()) }
                    " (" (r.severity.name()) ")" }
                dt { "Status" } dd.status { (r.status.name())
                    @if r.level >= 2 { " · second level" }
                    @if r.flapping { " · flapping" } }
                dt { "Assignee" } dd.assignee { @if let Some(a) = &r.assignee { (a) } @else { "nobody" } }
                dt { "Occurrences" } dd { (r.occurrences) }
                dt { "Opened" } dd { (layout::when(Some(r.opened_at))) }
                @if let Some(s) = &r.solution {
                    dt { "Solution" } dd.text { (s) }
                }
            }
            h2 { "Description" }
            div.text.description { (r.description) }
        }
        section.sla aria-label="SLA" {
            h2 { "SLA " (layout::badge(sla_class(sla), sla.name())) " " span.clock { (clock_text(r, now)) } }
            table.clocks {
                thead { tr { th { "Clock" } th { "Due" } th { "Done" } th { "Now" } } }
                tbody {
                    tr {
                        td { "Acknowledge" }
                        td { (layout::when(Some(r.acknowledge_due))) }
                        td { (layout::when(r.acknowledged_at)) }
                        td { (clock_state(r.acknowledge_due, r.acknowledged_at, r.acknowledge_breached, now)) }
                    }
                    tr {
                        td { "At risk (escalates unacknowledged)" }
                        td { (layout::when(Some(r.at_risk_at))) }
                        td { "—" }
                        td { @if r.status == Status::Open && now >= r.at_risk_at { (layout::badge("warn", "at risk")) } @else { "—" } }
                    }
                    tr {
                        td { "Resolve" }
                        td { (layout::when(Some(r.resolve_due))) }
                        td { (layout::when(r.resolved_at)) }
                        td { (clock_state(r.resolve_due, r.resolved_at, r.resolve_breached, now)) }
                    }
                }
            }
        }
        @if !view.contacts.is_empty() {
            section.suppliers aria-label="Whom to call" {
                h2 { "Whom to call" }
                table.contacts {
                    thead { tr { th { "Supplier" } th { "Contract" } th { "Until" } th { "Responds within" } th { "Phone" } th { "E-mail" } th { "Portal" } th { "Account" } } }
                    tbody {
                        @for c in &view.contacts {
                            tr {
                                td { (c.supplier) }
                                td { (c.number) " (" (c.kind.name()) ")" }
                                td { (c.end) }
                                td { @if let Some(h) = c.levels.response_hours { (h) " h" } @else { "—" } }
                                td { (c.phone.as_deref().unwrap_or("—")) }
                                td { (c.email.as_deref().unwrap_or("—")) }
                                td { (c.portal.as_deref().unwrap_or("—")) }
                                td { (c.account.as_deref().unwrap_or("—")) }
                            }
                        }
                    }
                }
            }
        }
        section.kb aria-label="Knowledge base" {
            h2 { "Knowledge base" }
            @if view.articles.is_empty() {
                p.muted { "No article fits this incident. " a href="/kb" { "Search the knowledge base" } }
            } @else {
                ul.articles {
                    @for a in &view.articles {
                        li { a href={ "/kb/" (a.id) } { "KB-" (a.id) " " (a.title) }
                            span.muted { " · suggested " (a.suggested) " · solved " (a.solved) } }
                    }
                }
            }
        }
        @if me.can(Role::Helpdesk) {
            (actions(me, view))
        }
        section.timeline aria-label="Timeline" {
            h2 { "Timeline" }
            table.timeline {
                thead { tr { th { "When" } th { "Who" } th { "Event" } th { "What" } } }
                tbody {
                    @for e in &r.timeline {
                        tr {
                            td { (layout::when(Some(e.at))) }
                            td { (e.author) }
                            td { (e.event.replace('-', " ")) }
                            td.text { (e.text) }
                        }
                    }
                }
            }
        }
    };
    layout::page(me, Section::Incidents, &title, body)
}

fn clock_state(due: Timestamp, done: Option<Timestamp>, breached: bool, now: Timestamp) -> Markup {
    match (done, breached) {
        (_, true) => layout::badge("bad", "breached"),
        (Some(_), false) => layout::badge("ok", "met"),
        (None, false) if now.0 > due.0 => html! {
            (layout::badge("bad", "overdue")) " " (span(now.0 - due.0))
        },
        (None, false) => html! { (span(due.0 - now.0)) " left" },
    }
}

/// The forms of the actions that fit the incident's status.
fn actions(me: &Person, view: &IncidentView) -> Markup {
    let r = &view.rec;
    let id = r.id;
    let active = r.status.is_active();
    let form = |verb: &str, label: &str, fields: Markup| {
        html! {
            form.action method="post" action={ "/incidents/" (id) "/" (verb) } data-action=(verb) {
                (layout::csrf(me))
                (fields)
                button type="submit" { (label) }
            }
        }
    };
    html! {
        section.actions aria-label="Actions" {
            h2 { "Act" }
            div.actions {
                @if r.status == Status::Open {
                    (form("ack", "Acknowledge", html! {}))
                }
                @if active {
                    (form("assign", "Assign", html! {
                        label { "Give it to"
                            select name="assignee" required {
                                @for n in &view.staff {
                                    option value=(n) selected[r.assignee.as_deref() == Some(n.as_str())] { (n) }
                                }
                            }
                        }
                    }))
                    @if r.level < 2 {
                        (form("escalate", "Escalate to second level", html! {}))
                    }
                }
                (form("note", "Add note", html! {
                    label { "Note" textarea name="text" rows="3" required {} }
                    label.check { input type="checkbox" name="public" value="on";
                        " Public: the person who reported it reads it on their machine" }
                }))
                @if active {
                    (form("resolve", "Resolve", html! {
                        label { "Solution" textarea name="solution" rows="3" {} }
                        label { "KB article that solved it (number)"
                            input type="number" name="kb_article" min="1" list={ "kb-" (id) };
                        }
                        datalist id={ "kb-" (id) } {
                            @for a in &view.articles { option value=(a.id) { (a.title) } }
                        }
                        label.check { input type="checkbox" name="save_kb" value="on" checked;
                            " Save the solution as a new KB article" }
                    }))
                }
                @if r.status == Status::Resolved {
                    (form("close", "Close", html! {}))
                }
                @if !active {
                    (form("reopen", "Reopen", html! {}))
                }
            }
        }
    }
}

/// A form posted to an incident action.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ActForm {
    csrf: String,
    assignee: String,
    text: String,
    public: Option<String>,
    solution: String,
    kb_article: String,
    save_kb: Option<String>,
}

async fn act(
    State(state): State<ConsoleState>,
    me: Person,
    Path((id, verb)): Path<(String, String)>,
    Form(form): Form<ActForm>,
) -> PageResult<Response> {
    me.may_post(Role::Helpdesk, &form.csrf)?;
    let id = parse_id(&id)?;
    let now = Timestamp::now();
    let problem = |view: IncidentView, status: StatusCode, text: String| {
        let page = incident_page(&me, &view, Some(&text), now);
        Ok((status, page).into_response())
    };
    let nonempty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let action = match verb.as_str() {
        "ack" => StaffAction::Ack,
        "assign" => {
            let view = load(&state, id).await?;
            match nonempty(&form.assignee) {
                Some(who) if view.staff.contains(&who) => StaffAction::Assign(who),
                Some(who) => {
                    return problem(
                        view,
                        StatusCode::BAD_REQUEST,
                        format!(
                            "`{who}` is not a help-desk or admin account that can take incidents"
                        ),
                    );
                }
                None => {
                    return problem(view, StatusCode::BAD_REQUEST, "Choose who takes it.".into());
                }
            }
        }
        "note" => match nonempty(&form.text) {
            Some(t) if form.public.is_some() => StaffAction::PublicNote(t),
            Some(t) => StaffAction::Note(t),
            None => {
                let view = load(&state, id).await?;
                return problem(view, StatusCode::BAD_REQUEST, "The note is empty.".into());
            }
        },
        "escalate" => StaffAction::Escalate,
        "resolve" => StaffAction::Resolve(nonempty(&form.solution)),
        "close" => StaffAction::Close,
        "reopen" => StaffAction::Reopen,
        other => {
            return Err(PageError::NotFound(format!(
                "no incident action `{other}`; the actions are ack, assign, note, escalate, resolve, close and reopen"
            )));
        }
    };
    let kb_article = match nonempty(&form.kb_article) {
        None => None,
        Some(n) => match n.trim_start_matches("KB-").parse::<u64>() {
            Ok(n) if matches!(action, StaffAction::Resolve(_)) => Some(n),
            Ok(_) => None,
            Err(_) => {
                let view = load(&state, id).await?;
                return problem(
                    view,
                    StatusCode::BAD_REQUEST,
                    format!("`{n}` is not a knowledge-base article number"),
                );
            }
        },
    };
    let save = form.save_kb.is_some();
    let desk = state
        .api
        .desk
        .clone()
        .ok_or(PageError::Unavailable("the incident desk is not running"))?;
    let author = me.name.clone();
    let task_action = action.clone();
    let result = tokio::task::spawn_blocking(move || {
        desk.staff_saving(id, &task_action, kb_article, save, &author, now)
    })
    .await
    .map_err(|e| PageError::Internal(format!("incident task: {e}")))?;
    let (status, text) = match result {
        Ok(_) => {
            tracing::info!(incident = id, action = %verb, by = %me.name, "incident action from the console");
            return Ok(Redirect::to(&format!("/incidents/{id}")).into_response());
        }
        Err(ActError::Staff(StaffError::NotFound(id))) => {
            return Err(PageError::NotFound(format!("no incident {id}")));
        }
        Err(ActError::Staff(StaffError::Store(e)) | ActError::Kb(KbError::Store(e))) => {
            return Err(PageError::Store(e));
        }
        Err(ActError::Staff(StaffError::Conflict(e))) => (
            StatusCode::CONFLICT,
            format!(
                "Not done: {e}. Someone may have acted on it meanwhile; the page shows it as it is now."
            ),
        ),
        Err(ActError::Kb(e)) => (StatusCode::BAD_REQUEST, format!("Not done: {e}.")),
        Err(ActError::Invalid(e)) => (StatusCode::BAD_REQUEST, format!("Not done: {e}.")),
    };
    let view = load(&state, id).await?;
    problem(view, status, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_in_two_units() {
        assert_eq!(span(42_000), "42 s");
        assert_eq!(span(-25 * 60_000), "25 min");
        assert_eq!(span(2 * 3_600_000 + 5 * 60_000), "2 h 5 min");
        assert_eq!(span(3 * 86_400_000 + 4 * 3_600_000), "3 d 4 h");
    }

    #[test]
    fn queue_links_keep_the_filters() {
        let q = QueueQuery {
            status: "all".into(),
            q: "disk full".into(),
            ..QueueQuery::default()
        };
        assert_eq!(
            queue_href(&q, Some(7)),
            "/incidents?status=all&q=disk%20full&from=7"
        );
        assert_eq!(queue_href(&QueueQuery::default(), None), "/incidents");
    }
}
