//! `atalaya incidents`, `incident`, the help desk's actions on one
//! (`ack`, `assign`, `note`, `escalate`, `resolve`, `close`, `reopen`) and
//! the SLA report.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, opt, pretty, render_pairs, seconds};
use crate::api::IncidentView;
use crate::incidents::lifecycle::IncidentRecord;
use crate::incidents::report::SlaReport;
use crate::kb::Article;
use crate::suppliers::reports::SupplierContact;

/// What the help desk does to an incident, with what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Acknowledge: someone is on it.
    Ack,
    /// Give it to someone.
    Assign(String),
    /// Add a note to its timeline; a public one (`true`) reaches the
    /// person who reported the incident.
    Note(String, bool),
    /// Move it to second level.
    Escalate,
    /// Record a case opened with a supplier: its name and case number.
    Supplier(String, String),
    /// Resolve it, with what fixed it or the KB article that did.
    Resolve {
        /// What fixed it.
        solution: Option<String>,
        /// The KB article that fixed it.
        kb_article: Option<u64>,
    },
    /// Close a resolved incident.
    Close,
    /// Reopen a resolved or closed incident.
    Reopen,
}

impl Action {
    /// The route's last segment and the request body.
    fn request(&self) -> (&'static str, Value) {
        match self {
            Action::Ack => ("ack", json!({})),
            Action::Assign(assignee) => ("assign", json!({ "assignee": assignee })),
            Action::Note(text, public) => ("note", json!({ "text": text, "public": public })),
            Action::Escalate => ("escalate", json!({})),
            Action::Supplier(supplier, case) => {
                ("supplier", json!({ "supplier": supplier, "case": case }))
            }
            Action::Resolve {
                solution,
                kb_article,
            } => (
                "resolve",
                json!({ "solution": solution, "kb_article": kb_article }),
            ),
            Action::Close => ("close", json!({})),
            Action::Reopen => ("reopen", json!({})),
        }
    }
}

/// `atalaya incidents [--status] [--asset]`: newest first.
pub fn list(
    client: &ApiClient,
    status: Option<String>,
    asset: Option<String>,
    format: Format,
) -> Result<String, CliError> {
    let body = client.get("/api/v1/incidents", &[("status", status), ("asset", asset)])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let list: Vec<IncidentRecord> = decode(&body, "incidents")?;
    let mut t = Table::new([
        "ID", "PRIORITY", "STATUS", "LEVEL", "ASSIGNEE", "OPENED", "TITLE",
    ]);
    for r in &list {
        let mut title = r.title.clone();
        if r.flapping {
            title.push_str(" [flapping]");
        }
        t.push([
            r.id.to_string(),
            r.priority.name().to_owned(),
            r.status.name().to_owned(),
            r.level.to_string(),
            opt(&r.assignee),
            seconds(r.opened_at),
            title,
        ]);
    }
    Ok(t.output(format))
}

/// `atalaya incident ID`: its record, the KB articles that fit, its
/// description and its timeline.
pub fn show(client: &ApiClient, id: u64, format: Format) -> Result<String, CliError> {
    let body = client.get(&format!("/api/v1/incidents/{id}"), &[])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let view: IncidentView = decode(&body, "the incident")?;
    let r = &view.incident;
    let mut out = render_pairs(&record_pairs(r));
    out.push_str(&contacts(&view.supplier_contracts));
    out.push_str(&articles(client, &r.kb_articles));
    let _ = write!(out, "\n{}\n\n", r.description);
    let mut t = Table::new(["WHEN", "WHO", "EVENT", "TEXT"]);
    for e in &r.timeline {
        t.push([
            seconds(e.at),
            e.author.clone(),
            e.event.clone(),
            e.text.clone(),
        ]);
    }
    out.push_str(&t.output(format));
    Ok(out)
}

fn record_pairs(r: &IncidentRecord) -> Vec<(String, String)> {
    let due = |at, breached: bool| {
        let state = if breached { "BREACHED" } else { "ok" };
        format!("{} ({state})", seconds(at))
    };
    [
        ("incident", r.id.to_string()),
        ("title", r.title.clone()),
        ("asset", r.asset.clone()),
        ("rule", r.rule.clone()),
        ("severity", r.severity.name().to_owned()),
        ("priority", r.priority.name().to_owned()),
        ("status", r.status.name().to_owned()),
        ("level", r.level.to_string()),
        ("assignee", opt(&r.assignee)),
        ("occurrences", r.occurrences.to_string()),
        ("flapping", r.flapping.to_string()),
        ("opened", seconds(r.opened_at)),
        (
            "acknowledge by",
            due(r.acknowledge_due, r.acknowledge_breached),
        ),
        ("resolve by", due(r.resolve_due, r.resolve_breached)),
        ("solution", opt(&r.solution)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Whom to call about the incident's asset, quickest response first.
fn contacts(all: &[SupplierContact]) -> String {
    if all.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nSuppliers (contracts covering the asset):\n");
    for c in all {
        let reach: Vec<&str> = [&c.phone, &c.email, &c.portal]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let promise = match (c.levels.response_hours, c.levels.resolution_hours) {
            (Some(r), Some(f)) => format!("; responds within {r} h, resolves within {f} h"),
            (Some(r), None) => format!("; responds within {r} h"),
            (None, Some(f)) => format!("; resolves within {f} h"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "  {} {} ({}, until {}){promise}{}{}",
            c.supplier,
            c.number,
            c.kind.name(),
            c.end,
            if reach.is_empty() { "" } else { "; " },
            reach.join(", ")
        );
    }
    out
}

/// The KB articles an incident suggests, best first, with their record.
fn articles(client: &ApiClient, ids: &[String]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nKnowledge base (best first):\n");
    for id in ids {
        // An article deleted or unreadable still shows its number.
        let title = client
            .get(&format!("/api/v1/kb/{id}"), &[])
            .ok()
            .and_then(|b| serde_json::from_str::<Article>(&b).ok())
            .map(|a| {
                format!(
                    "{} (solved {} of {} times suggested)",
                    a.title, a.solved, a.suggested
                )
            })
            .unwrap_or_else(|| "(not readable)".to_owned());
        let _ = writeln!(out, "  #{id}  {title}");
    }
    out
}

/// `atalaya ack|assign|note|escalate|resolve|close|reopen ID`: the
/// incident's status and level after it.
pub fn act(
    client: &ApiClient,
    id: u64,
    action: &Action,
    format: Format,
) -> Result<String, CliError> {
    let (verb, body) = action.request();
    let answer = client.post(&format!("/api/v1/incidents/{id}/{verb}"), Some(&body))?;
    if format == Format::Json {
        return Ok(pretty(&answer));
    }
    let rec: IncidentRecord = decode(&answer, "the incident")?;
    Ok(format!(
        "incident {}: {} (level {})\n",
        rec.id,
        rec.status.name(),
        rec.level
    ))
}

/// `atalaya sla`: per priority, targets met and breached, mean times.
pub fn sla(client: &ApiClient, format: Format) -> Result<String, CliError> {
    let body = client.get("/api/v1/sla", &[])?;
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let report: SlaReport = decode(&body, "the SLA report")?;
    let mut t = Table::new([
        "PRIORITY",
        "INCIDENTS",
        "ACTIVE",
        "ACK MET",
        "ACK BREACHED",
        "RESOLVE MET",
        "RESOLVE BREACHED",
        "MEAN ACK S",
        "MEAN RESOLVE S",
    ]);
    let secs = |v: Option<f64>| v.map(|v| format!("{v:.0}")).unwrap_or_default();
    for l in &report.priorities {
        t.push([
            l.priority.clone(),
            l.incidents.to_string(),
            l.active.to_string(),
            l.acknowledge_met.to_string(),
            l.acknowledge_breached.to_string(),
            l.resolve_met.to_string(),
            l.resolve_breached.to_string(),
            secs(l.mean_acknowledge_seconds),
            secs(l.mean_resolve_seconds),
        ]);
    }
    Ok(t.output(format))
}
