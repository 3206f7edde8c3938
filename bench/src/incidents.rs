//! A history of incidents like a help desk's, written straight to the
//! store as the desk stores them: a few per cent still open or
//! acknowledged, the rest resolved or closed; 200 assets; eight people; a
//! description of a few hundred bytes and a timeline of three to six
//! entries each. Shared by the benches of the incident queue and the
//! console.

use atalaya_collector::records::incident::{
    IncidentRecord, Priority, Severity, Status, TimelineEntry,
};
use atalaya_common::model::Timestamp;
use rand::Rng;
use rand::rngs::StdRng;

/// The help desk the incidents are assigned to.
pub const PEOPLE: &[&str] = &[
    "ana", "luis", "marta", "jorge", "eva", "pablo", "sara", "ivan",
];
/// Rules and the words of their titles.
pub const RULES: &[(&str, &str)] = &[
    ("filesystem-full", "Disk almost full on"),
    ("cpu-high", "CPU busy on"),
    ("agent-silent", "Agent silent on"),
    ("user-report", "Printer does not print at"),
    ("memory-high", "Memory short on"),
];

/// Incident `id` of `total`, opened `total - id` times 5 minutes before
/// `now`; `active_percent` of them still open or acknowledged.
pub fn incident(
    id: u64,
    rng: &mut StdRng,
    total: u64,
    active_percent: u64,
    now: Timestamp,
) -> IncidentRecord {
    let hour = 3_600_000;
    let opened = Timestamp(now.0 - i64::try_from(total - id).unwrap_or(0) * 300_000);
    let active = rng.random_range(0..100) < active_percent;
    let status = match (active, rng.random_range(0..2)) {
        (true, 0) => Status::Open,
        (true, _) => Status::Acknowledged,
        (false, 0) => Status::Resolved,
        (false, _) => Status::Closed,
    };
    let (rule, words) = RULES[rng.random_range(0..RULES.len())];
    let asset = format!("asset-{:03}", rng.random_range(0..200));
    let who = PEOPLE[rng.random_range(0..PEOPLE.len())];
    let mut timeline = vec![TimelineEntry {
        at: opened,
        author: "atalaya".into(),
        event: "opened".into(),
        text: format!("opened by rule {rule} (warning, priority P3)"),
    }];
    for n in 0..rng.random_range(2..6) {
        timeline.push(TimelineEntry {
            at: Timestamp(opened.0 + n * 60_000),
            author: who.into(),
            event: "note".into(),
            text: "called the user; looking at it, more in a moment".into(),
        });
    }
    IncidentRecord {
        id,
        asset: asset.clone(),
        rule: rule.into(),
        subject: id.to_string(),
        title: format!("{words} ws-{asset}"),
        description: "Seen by the collector: the value stayed over the limit for the whole \
                      window. "
            .repeat(4),
        severity: Severity::Warning,
        priority: Priority::ALL[rng.random_range(0..4)],
        status,
        level: 1,
        assignee: (rng.random_range(0..3) > 0).then(|| who.to_owned()),
        occurrences: rng.random_range(1..20),
        flapping: false,
        opened_at: opened,
        stored_at: opened,
        acknowledged_at: None,
        resolved_at: (!active).then_some(opened),
        closed_at: None,
        acknowledge_due: Timestamp(opened.0 + 4 * hour),
        at_risk_at: Timestamp(opened.0 + 3 * hour),
        resolve_due: Timestamp(opened.0 + 48 * hour),
        acknowledge_breached: false,
        resolve_breached: false,
        solution: None,
        kb_articles: Vec::new(),
        timeline,
    }
}
