//! The help-desk lifecycle of a stored incident, as pure functions.
//!
//! ```text
//!            ack              resolve             close
//!   open ──────────► acknowledged ──────► resolved ──────► closed
//!     │                                     ▲  │              │
//!     └──────────── resolve ────────────────┘  └── reopen ◄───┘
//! ```
//!
//! Staff act through [`apply_staff`]; the engine's actions go through
//! [`new_incident`] and [`apply_engine`]; the passing of time through
//! [`sla_check`] (escalation when the acknowledge clock is at risk, breaches).
//! Every change leaves a [`TimelineEntry`]. A transition that makes no sense
//! (closing an open incident, acknowledging a closed one) is a
//! [`TransitionError`], which the API answers with 409.

use atalaya_common::model::Timestamp;

use super::engine::{Action, ActionKind};
use super::sla::{self, SlaPolicies};
use crate::records::incident::Priority;
pub use crate::records::incident::{
    DIAGNOSTIC, IncidentRecord, PUBLIC_NOTE, SUPPLIER_CASE, SYSTEM, SlaEvent, Status, SupplierCase,
    TimelineEntry,
};

/// What staff do to an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaffAction {
    /// Take it.
    Ack,
    /// Give it to someone.
    Assign(String),
    /// Write something down.
    Note(String),
    /// Write something down for the person who reported it too: the
    /// newest public note reaches their machine (`atalaya-agent reports`).
    PublicNote(String),
    /// The result of a diagnostic action run on the incident's machine,
    /// in words naming who asked for it.
    Diagnostic(String),
    /// Move it to second level.
    Escalate,
    /// A case opened with a supplier (an active incident only).
    SupplierCase(SupplierCase),
    /// Fixed, optionally with the solution.
    Resolve(Option<String>),
    /// Done.
    Close,
    /// Not fixed after all.
    Reopen,
}

impl StaffAction {
    /// The verb, as in the API path.
    pub fn verb(&self) -> &'static str {
        match self {
            StaffAction::Ack => "ack",
            StaffAction::Assign(_) => "assign",
            StaffAction::Note(_) | StaffAction::PublicNote(_) => "note",
            StaffAction::Diagnostic(_) => "diagnostic",
            StaffAction::Escalate => "escalate",
            StaffAction::SupplierCase(_) => "supplier",
            StaffAction::Resolve(_) => "resolve",
            StaffAction::Close => "close",
            StaffAction::Reopen => "reopen",
        }
    }
}

/// A staff action that does not fit the incident's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {verb} incident {id}: it is {status}; {hint}")]
pub struct TransitionError {
    /// The incident.
    pub id: u64,
    /// What was tried.
    pub verb: &'static str,
    /// Its status.
    pub status: &'static str,
    /// What would work.
    pub hint: &'static str,
}

/// Applies a staff action at `now` by `author`. On error nothing changed.
pub fn apply_staff(
    rec: &mut IncidentRecord,
    action: &StaffAction,
    author: &str,
    now: Timestamp,
) -> Result<(), TransitionError> {
    let refuse = |hint| TransitionError {
        id: rec.id,
        verb: action.verb(),
        status: rec.status.name(),
        hint,
    };
    match action {
        StaffAction::Ack => {
            match rec.status {
                Status::Open => {}
                Status::Acknowledged => return Err(refuse("it was acknowledged already")),
                Status::Resolved | Status::Closed => {
                    return Err(refuse("reopen it first if it is not fixed"));
                }
            }
            rec.status = Status::Acknowledged;
            rec.acknowledged_at.get_or_insert(now);
            if now > rec.acknowledge_due {
                rec.acknowledge_breached = true;
            }
            rec.log(
                now,
                author,
                "acknowledged",
                format!("acknowledged by {author}"),
            );
        }
        StaffAction::Assign(who) => {
            if !rec.status.is_active() {
                return Err(refuse("only open or acknowledged incidents are assigned"));
            }
            rec.assignee = Some(who.clone());
            rec.log(now, author, "assigned", format!("assigned to {who}"));
        }
        StaffAction::Note(text) => rec.log(now, author, "note", text.clone()),
        StaffAction::PublicNote(text) => rec.log(now, author, PUBLIC_NOTE, text.clone()),
        StaffAction::Diagnostic(text) => rec.log(now, author, DIAGNOSTIC, text.clone()),
        StaffAction::Escalate => {
            if !rec.status.is_active() {
                return Err(refuse("only open or acknowledged incidents escalate"));
            }
            if rec.level >= 2 {
                return Err(refuse("it is at second level already"));
            }
            rec.level = 2;
            rec.log(now, author, "escalated", "escalated to second level");
        }
        StaffAction::SupplierCase(case) => {
            if !rec.status.is_active() {
                return Err(refuse(
                    "only open or acknowledged incidents go to a supplier",
                ));
            }
            rec.log(now, author, SUPPLIER_CASE, case.text());
        }
        StaffAction::Resolve(solution) => {
            if !rec.status.is_active() {
                return Err(refuse("only open or acknowledged incidents are resolved"));
            }
            resolve(rec, now);
            rec.solution = solution.clone().or(rec.solution.take());
            let text = match solution {
                Some(s) => format!("resolved by {author}: {s}"),
                None => format!("resolved by {author}"),
            };
            rec.log(now, author, "resolved", text);
        }
        StaffAction::Close => {
            if rec.status != Status::Resolved {
                return Err(refuse(if rec.status == Status::Closed {
                    "it is closed already"
                } else {
                    "resolve it first"
                }));
            }
            rec.status = Status::Closed;
            rec.closed_at = Some(now);
            rec.log(now, author, "closed", format!("closed by {author}"));
        }
        StaffAction::Reopen => {
            if rec.status.is_active() {
                return Err(refuse("it is still open"));
            }
            reopen(rec);
            rec.log(now, author, "reopened", format!("reopened by {author}"));
        }
    }
    Ok(())
}

fn resolve(rec: &mut IncidentRecord, now: Timestamp) {
    rec.status = Status::Resolved;
    rec.resolved_at = Some(now);
    if now > rec.resolve_due {
        rec.resolve_breached = true;
    }
}

fn reopen(rec: &mut IncidentRecord) {
    // The SLA clocks keep their original due times: a reopened incident
    // was never really fixed.
    rec.status = Status::Open;
    rec.resolved_at = None;
    rec.closed_at = None;
}

/// A new incident from an engine `Open` action, stored at `stored_at`.
pub fn new_incident(
    action: &Action,
    priority: Priority,
    policies: &SlaPolicies,
    stored_at: Timestamp,
) -> IncidentRecord {
    let opened = action.at;
    let clocks = sla::clocks(opened.0, policies.of(priority), policies.at_risk_percent);
    let mut rec = IncidentRecord {
        id: action.incident,
        asset: action.key.asset.clone(),
        rule: action.key.rule.clone(),
        subject: action.key.subject.clone(),
        title: action.title.clone(),
        description: action.description.clone(),
        severity: action.severity,
        priority,
        status: Status::Open,
        level: 1,
        assignee: None,
        occurrences: action.occurrences.max(1),
        flapping: action.flapping,
        opened_at: opened,
        stored_at,
        acknowledged_at: None,
        resolved_at: None,
        closed_at: None,
        acknowledge_due: Timestamp(clocks.acknowledge_due),
        at_risk_at: Timestamp(clocks.at_risk_at),
        resolve_due: Timestamp(clocks.resolve_due),
        acknowledge_breached: false,
        resolve_breached: false,
        solution: None,
        kb_articles: Vec::new(),
        timeline: Vec::new(),
    };
    rec.log(
        opened,
        SYSTEM,
        "opened",
        format!(
            "opened by rule {} ({}, priority {priority})",
            action.key.rule,
            action.severity.name()
        ),
    );
    rec
}

/// Applies an engine action other than `Open` and `Notify`. Returns whether
/// the record changed.
pub fn apply_engine(rec: &mut IncidentRecord, action: &Action) -> bool {
    let at = action.at;
    match action.kind {
        ActionKind::Open | ActionKind::Notify(_) => return false,
        ActionKind::Update => {
            if action.occurrences == rec.occurrences && action.description == rec.description {
                return false;
            }
            rec.occurrences = rec.occurrences.max(action.occurrences);
            rec.description = action.description.clone();
        }
        ActionKind::Resolve => {
            rec.flapping = false;
            if !rec.status.is_active() {
                return true;
            }
            resolve(rec, at);
            rec.log(
                at,
                SYSTEM,
                "resolved",
                "resolved automatically: condition cleared",
            );
        }
        ActionKind::Reopen => {
            rec.occurrences = rec.occurrences.max(action.occurrences);
            rec.description = action.description.clone();
            if rec.status.is_active() {
                return true;
            }
            reopen(rec);
            rec.log(
                at,
                SYSTEM,
                "reopened",
                format!(
                    "reopened: the condition recurred (occurrence {})",
                    rec.occurrences
                ),
            );
        }
        ActionKind::MarkFlapping => {
            rec.flapping = true;
            rec.occurrences = rec.occurrences.max(action.occurrences);
            rec.log(
                at,
                SYSTEM,
                "flapping",
                "marked flapping: the condition opens and clears too often",
            );
        }
        ActionKind::EndFlapping => {
            rec.flapping = false;
            rec.log(
                at,
                SYSTEM,
                "flapping",
                "no longer flapping; the condition still holds",
            );
        }
    }
    true
}

/// Checks the clocks of an incident at `now`, updating it and returning
/// what happened (each event happens once).
pub fn sla_check(rec: &mut IncidentRecord, now: Timestamp) -> Vec<SlaEvent> {
    let mut out = Vec::new();
    if !rec.status.is_active() {
        return out;
    }
    if rec.status == Status::Open && rec.level < 2 && now >= rec.at_risk_at {
        rec.level = 2;
        rec.log(
            now,
            SYSTEM,
            "escalated",
            format!(
                "escalated to second level: not acknowledged, due {}",
                rec.acknowledge_due
            ),
        );
        out.push(SlaEvent::Escalated);
    }
    if rec.status == Status::Open && !rec.acknowledge_breached && now > rec.acknowledge_due {
        rec.acknowledge_breached = true;
        rec.log(
            now,
            SYSTEM,
            "sla_breached",
            format!("acknowledge target missed (due {})", rec.acknowledge_due),
        );
        out.push(SlaEvent::AcknowledgeBreached);
    }
    if !rec.resolve_breached && now > rec.resolve_due {
        rec.resolve_breached = true;
        rec.log(
            now,
            SYSTEM,
            "sla_breached",
            format!("resolve target missed (due {})", rec.resolve_due),
        );
        out.push(SlaEvent::ResolveBreached);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::sla::SlaPolicy;
    use crate::records::incident::{IncidentKey, Severity};

    fn action(kind: ActionKind, at: i64, occurrences: u32) -> Action {
        Action {
            kind,
            incident: 7,
            key: IncidentKey {
                asset: "asset-1".into(),
                rule: "filesystem-full".into(),
                subject: "/var".into(),
            },
            at: Timestamp(at),
            severity: Severity::High,
            title: "filesystem-full on web-01 (/var)".into(),
            description: "used 93 %".into(),
            occurrences,
            flapping: false,
        }
    }

    fn policies() -> SlaPolicies {
        let p = SlaPolicy {
            acknowledge_seconds: 100,
            resolve_seconds: 1000,
            business_hours: None,
        };
        SlaPolicies {
            by_priority: [p; 4],
            at_risk_percent: 80,
        }
    }

    fn open() -> IncidentRecord {
        new_incident(
            &action(ActionKind::Open, 1_000_000, 1),
            Priority::P2,
            &policies(),
            Timestamp(1_000_500),
        )
    }

    #[test]
    fn a_new_incident_has_its_clocks() {
        let rec = open();
        assert_eq!(rec.status, Status::Open);
        assert_eq!(rec.level, 1);
        assert_eq!(rec.acknowledge_due, Timestamp(1_100_000));
        assert_eq!(rec.at_risk_at, Timestamp(1_080_000));
        assert_eq!(rec.resolve_due, Timestamp(2_000_000));
        assert_eq!(rec.timeline.len(), 1);
        assert!(rec.kb_articles.is_empty());
    }

    #[test]
    fn the_whole_life_of_an_incident() {
        let mut rec = open();
        apply_staff(&mut rec, &StaffAction::Ack, "ana", Timestamp(1_050_000)).unwrap();
        assert_eq!(rec.status, Status::Acknowledged);
        assert!(!rec.acknowledge_breached);
        apply_staff(
            &mut rec,
            &StaffAction::Assign("bob".into()),
            "ana",
            Timestamp(1_060_000),
        )
        .unwrap();
        assert_eq!(rec.assignee.as_deref(), Some("bob"));
        apply_staff(
            &mut rec,
            &StaffAction::Note("looking".into()),
            "bob",
            Timestamp(1_070_000),
        )
        .unwrap();
        apply_staff(
            &mut rec,
            &StaffAction::Escalate,
            "bob",
            Timestamp(1_080_000),
        )
        .unwrap();
        assert_eq!(rec.level, 2);
        let solution = Some("cleaned /var/log".to_owned());
        apply_staff(
            &mut rec,
            &StaffAction::Resolve(solution),
            "bob",
            Timestamp(1_090_000),
        )
        .unwrap();
        assert_eq!(rec.status, Status::Resolved);
        assert_eq!(rec.solution.as_deref(), Some("cleaned /var/log"));
        apply_staff(&mut rec, &StaffAction::Reopen, "ana", Timestamp(1_100_000)).unwrap();
        assert_eq!(rec.status, Status::Open);
        assert_eq!(rec.resolved_at, None);
        apply_staff(
            &mut rec,
            &StaffAction::Resolve(None),
            "ana",
            Timestamp(1_110_000),
        )
        .unwrap();
        apply_staff(&mut rec, &StaffAction::Close, "ana", Timestamp(1_120_000)).unwrap();
        assert_eq!(rec.status, Status::Closed);
        let events: Vec<&str> = rec.timeline.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(
            events,
            [
                "opened",
                "acknowledged",
                "assigned",
                "note",
                "escalated",
                "resolved",
                "reopened",
                "resolved",
                "closed"
            ]
        );
        assert_eq!(rec.timeline[3].author, "bob");
    }

    #[test]
    fn invalid_transitions_are_refused_and_change_nothing() {
        let mut rec = open();
        let before = rec.clone();
        let err = apply_staff(&mut rec, &StaffAction::Close, "ana", Timestamp(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot close incident 7: it is open; resolve it first"
        );
        assert_eq!(rec, before);
        assert!(apply_staff(&mut rec, &StaffAction::Reopen, "ana", Timestamp(1)).is_err());
        apply_staff(&mut rec, &StaffAction::Ack, "ana", Timestamp(1_001_000)).unwrap();
        assert!(apply_staff(&mut rec, &StaffAction::Ack, "ana", Timestamp(1)).is_err());
        apply_staff(
            &mut rec,
            &StaffAction::Resolve(None),
            "ana",
            Timestamp(1_002_000),
        )
        .unwrap();
        apply_staff(&mut rec, &StaffAction::Close, "ana", Timestamp(1_003_000)).unwrap();
        for a in [
            StaffAction::Ack,
            StaffAction::Assign("x".into()),
            StaffAction::Escalate,
            StaffAction::Resolve(None),
            StaffAction::Close,
        ] {
            let err = apply_staff(&mut rec, &a, "ana", Timestamp(1)).unwrap_err();
            assert_eq!(err.status, "closed", "{a:?}");
        }
        // Notes are always welcome.
        apply_staff(
            &mut rec,
            &StaffAction::Note("post-mortem".into()),
            "ana",
            Timestamp(1),
        )
        .unwrap();
    }

    #[test]
    fn engine_actions_resolve_reopen_and_flap() {
        let mut rec = open();
        assert!(apply_engine(
            &mut rec,
            &action(ActionKind::Update, 1_010_000, 2)
        ));
        assert_eq!(rec.occurrences, 2);
        assert!(apply_engine(
            &mut rec,
            &action(ActionKind::Resolve, 1_020_000, 2)
        ));
        assert_eq!(rec.status, Status::Resolved);
        assert_eq!(
            rec.timeline.last().unwrap().text,
            "resolved automatically: condition cleared"
        );
        assert!(apply_engine(
            &mut rec,
            &action(ActionKind::Reopen, 1_030_000, 3)
        ));
        assert_eq!(rec.status, Status::Open);
        assert_eq!(rec.occurrences, 3);
        assert!(apply_engine(
            &mut rec,
            &action(ActionKind::MarkFlapping, 1_040_000, 4)
        ));
        assert!(rec.flapping);
        assert!(apply_engine(
            &mut rec,
            &action(ActionKind::EndFlapping, 1_050_000, 4)
        ));
        assert!(!rec.flapping);
        // A staff-closed incident the engine resolves later stays closed.
        apply_staff(
            &mut rec,
            &StaffAction::Resolve(None),
            "ana",
            Timestamp(1_060_000),
        )
        .unwrap();
        apply_staff(&mut rec, &StaffAction::Close, "ana", Timestamp(1_070_000)).unwrap();
        apply_engine(&mut rec, &action(ActionKind::Resolve, 1_080_000, 4));
        assert_eq!(rec.status, Status::Closed);
    }

    #[test]
    fn sla_escalates_at_risk_then_records_breaches_once() {
        let mut rec = open();
        assert!(sla_check(&mut rec, Timestamp(1_079_999)).is_empty());
        assert_eq!(
            sla_check(&mut rec, Timestamp(1_080_000)),
            [SlaEvent::Escalated]
        );
        assert_eq!(rec.level, 2);
        assert!(sla_check(&mut rec, Timestamp(1_090_000)).is_empty());
        assert_eq!(
            sla_check(&mut rec, Timestamp(1_100_001)),
            [SlaEvent::AcknowledgeBreached]
        );
        assert!(sla_check(&mut rec, Timestamp(1_200_000)).is_empty());
        apply_staff(&mut rec, &StaffAction::Ack, "ana", Timestamp(1_300_000)).unwrap();
        assert_eq!(
            sla_check(&mut rec, Timestamp(2_000_001)),
            [SlaEvent::ResolveBreached]
        );
        assert!(rec.acknowledge_breached && rec.resolve_breached);
    }

    #[test]
    fn an_acknowledged_incident_does_not_escalate() {
        let mut rec = open();
        apply_staff(&mut rec, &StaffAction::Ack, "ana", Timestamp(1_010_000)).unwrap();
        assert!(sla_check(&mut rec, Timestamp(1_150_000)).is_empty());
        assert_eq!(rec.level, 1);
        assert!(!rec.acknowledge_breached);
    }

    #[test]
    fn a_late_ack_is_a_breach() {
        let mut rec = open();
        apply_staff(&mut rec, &StaffAction::Ack, "ana", Timestamp(1_100_001)).unwrap();
        assert!(rec.acknowledge_breached);
    }
}
