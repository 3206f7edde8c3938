//! What the people who reported a problem from their machine
//! (`atalaya-agent report`) are told about it: the incident it opened or
//! was counted on, its status, who has it, and the newest note the help
//! desk marked public. Sent to the machine's agent, which files each
//! person's own where only they can read it (`atalaya-agent reports`).

use std::collections::HashMap;

use atalaya_common::model::Timestamp;
use atalaya_common::proto::{PublicNote, ReportState};

use crate::records::incident::{IncidentRecord, PUBLIC_NOTE, Status};
use crate::store::{ReportRecord, Store, StoreError};

/// Most reports told about per machine: the newest.
pub const MAX_TOLD: usize = 100;
/// A report whose incident was closed longer ago than this is no longer told.
pub const FORGET_CLOSED_AFTER_DAYS: i64 = 30;
/// Characters of a report's text kept to recognise it by.
pub const SUMMARY_CHARS: usize = 120;

/// The reports sent by `agent` about `asset`, newest first, each with
/// what became of it, as of `now`.
pub fn told(
    store: &Store,
    asset: &str,
    agent: &str,
    now: Timestamp,
) -> Result<Vec<ReportState>, StoreError> {
    let reports: Vec<ReportRecord> = store
        .reports(asset)?
        .into_iter()
        .filter(|r| r.agent_id == agent)
        .take(MAX_TOLD)
        .collect();
    let mut incidents: HashMap<u64, Option<IncidentRecord>> = HashMap::new();
    for id in reports.iter().filter_map(|r| r.incident) {
        if let std::collections::hash_map::Entry::Vacant(slot) = incidents.entry(id) {
            slot.insert(store.incident(id)?);
        }
    }
    Ok(reports
        .iter()
        .filter_map(|r| {
            let incident = r.incident.and_then(|id| incidents.get(&id)?.as_ref());
            state_of(r, incident, now)
        })
        .collect())
}

/// One report as its writer reads it; `None` once its incident has been
/// closed for [`FORGET_CLOSED_AFTER_DAYS`].
pub fn state_of(
    report: &ReportRecord,
    incident: Option<&IncidentRecord>,
    now: Timestamp,
) -> Option<ReportState> {
    let summary = summary(&report.text);
    let Some(rec) = incident else {
        return Some(ReportState {
            id: report.id.clone(),
            uid: report.uid,
            written_at: report.written_at,
            summary,
            incident: None,
            status: None,
            assignee: None,
            updated_at: report.received_at,
            note: None,
        });
    };
    let forget_before = now.0.saturating_sub(FORGET_CLOSED_AFTER_DAYS * 86_400_000);
    if rec.status == Status::Closed && rec.closed_at.is_some_and(|t| t.0 < forget_before) {
        return None;
    }
    let note = rec
        .timeline
        .iter()
        .rev()
        .find(|e| e.event == PUBLIC_NOTE)
        .map(|e| PublicNote {
            at: e.at,
            author: e.author.clone(),
            text: e.text.clone(),
        });
    let updated_at = rec
        .timeline
        .last()
        .map_or(rec.opened_at, |e| e.at)
        .max(report.received_at);
    Some(ReportState {
        id: report.id.clone(),
        uid: report.uid,
        written_at: report.written_at,
        summary,
        incident: Some(rec.id),
        status: Some(rec.status.name().to_owned()),
        assignee: rec.assignee.clone(),
        updated_at,
        note,
    })
}

/// The first line of `text`, cut at [`SUMMARY_CHARS`].
fn summary(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    if line.chars().count() > SUMMARY_CHARS {
        line.chars().take(SUMMARY_CHARS).collect::<String>() + "…"
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use crate::incidents::lifecycle::{StaffAction, apply_staff, new_incident};
    use crate::incidents::sla::{SlaPolicies, SlaPolicy};
    use crate::incidents::{Action, ActionKind};
    use crate::records::incident::{IncidentKey, Priority, Severity};

    const DAY: i64 = 86_400_000;

    fn report(id: &str, incident: Option<u64>) -> ReportRecord {
        ReportRecord {
            asset: "as-1".into(),
            agent_id: "ag-1".into(),
            seq: 1,
            id: id.into(),
            written_at: Timestamp(10 * DAY),
            received_at: Timestamp(10 * DAY + 1000),
            text: format!("the printer does not print\nsince {id}"),
            user: Some("maria".into()),
            uid: Some(1000),
            handled_at: incident.map(|_| Timestamp(10 * DAY + 2000)),
            incident,
        }
    }

    fn incident() -> IncidentRecord {
        let policy = SlaPolicy {
            acknowledge_seconds: 3600,
            resolve_seconds: 86_400,
            business_hours: None,
        };
        let action = Action {
            kind: ActionKind::Open,
            incident: 7,
            key: IncidentKey {
                asset: "as-1".into(),
                rule: "user-report".into(),
                subject: "r1".into(),
            },
            at: Timestamp(10 * DAY + 3000),
            severity: Severity::Warning,
            title: "lat-maria: the printer does not print".into(),
            description: String::new(),
            occurrences: 1,
            flapping: false,
        };
        let policies = SlaPolicies {
            by_priority: [policy; 4],
            at_risk_percent: 80,
        };
        new_incident(&action, Priority::P3, &policies, action.at)
    }

    #[test]
    fn a_report_tells_its_incident_and_only_public_notes() {
        let mut rec = incident();
        let now = Timestamp(11 * DAY);
        apply_staff(&mut rec, &StaffAction::Ack, "ana", now).unwrap();
        apply_staff(&mut rec, &StaffAction::Assign("ana".into()), "ana", now).unwrap();
        apply_staff(
            &mut rec,
            &StaffAction::PublicNote("a new toner is on its way".into()),
            "ana",
            Timestamp(now.0 + 1),
        )
        .unwrap();
        apply_staff(
            &mut rec,
            &StaffAction::Note("the toner costs 80 EUR, ask Luis".into()),
            "ana",
            Timestamp(now.0 + 2),
        )
        .unwrap();
        let told = state_of(&report("r1", Some(7)), Some(&rec), now).unwrap();
        assert_eq!(told.incident, Some(7));
        assert_eq!(told.status.as_deref(), Some("acknowledged"));
        assert_eq!(told.assignee.as_deref(), Some("ana"));
        assert_eq!(told.summary, "the printer does not print");
        assert_eq!(told.updated_at, Timestamp(now.0 + 2));
        let note = told.note.unwrap();
        assert_eq!(
            (note.author.as_str(), note.text.as_str()),
            ("ana", "a new toner is on its way"),
            "a private note never reaches the reporter"
        );

        let waiting = state_of(&report("r2", None), None, now).unwrap();
        assert_eq!((waiting.incident, waiting.status), (None, None));
        assert_eq!(waiting.uid, Some(1000));
    }

    #[test]
    fn a_long_closed_incident_is_no_longer_told() {
        let mut rec = incident();
        let closed = Timestamp(12 * DAY);
        apply_staff(&mut rec, &StaffAction::Resolve(None), "ana", closed).unwrap();
        apply_staff(&mut rec, &StaffAction::Close, "ana", closed).unwrap();
        let r = report("r1", Some(7));
        let soon = Timestamp(closed.0 + FORGET_CLOSED_AFTER_DAYS * DAY - 1);
        assert_eq!(
            state_of(&r, Some(&rec), soon).unwrap().status.as_deref(),
            Some("closed")
        );
        let later = Timestamp(closed.0 + FORGET_CLOSED_AFTER_DAYS * DAY + 1);
        assert_eq!(state_of(&r, Some(&rec), later), None);
    }

    #[test]
    fn the_summary_is_the_first_line_cut() {
        assert_eq!(summary("  one\ntwo"), "one");
        let long = "x".repeat(SUMMARY_CHARS + 5);
        assert_eq!(summary(&long).chars().count(), SUMMARY_CHARS + 1);
    }
}
