//! Incidents as stored and told: what the store keeps, the logic changes
//! and the edges show.

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How bad an incident of a rule is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; nobody needs to act now.
    Info,
    /// Needs attention soon.
    Warning,
    /// Something is broken or about to break.
    High,
    /// A service is down; act now.
    Critical,
}

impl Severity {
    pub const NAMES: &[&'static str] = &["info", "warning", "high", "critical"];

    /// The name used in rules and the API.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "info" => Severity::Info,
            "warning" => Severity::Warning,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// The four priorities, P1 most urgent.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Priority {
    /// Act now.
    P1,
    /// Act soon.
    P2,
    /// Normal.
    P3,
    /// When there is time.
    P4,
}

impl Priority {
    /// Every priority, most urgent first.
    pub const ALL: [Priority; 4] = [Priority::P1, Priority::P2, Priority::P3, Priority::P4];

    /// `P1` … `P4`.
    pub fn name(self) -> &'static str {
        match self {
            Priority::P1 => "P1",
            Priority::P2 => "P2",
            Priority::P3 => "P3",
            Priority::P4 => "P4",
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Identifies an incident: one open at a time per key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IncidentKey {
    /// Asset id.
    pub asset: String,
    /// Rule name.
    pub rule: String,
    /// What on the asset: a mount point, an interface, a report id, or `""`.
    pub subject: String,
}

/// Why a notification goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// An incident opened.
    Opened,
    /// An open incident had another occurrence worth telling (an inventory change, a report).
    Updated,
    /// A resolved incident opened again.
    Reopened,
    /// An incident resolved itself.
    Resolved,
    /// An incident started flapping (and will be quiet until it stops).
    Flapping,
}

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nobody has taken it yet.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Fixed (by staff, or the condition cleared); may still reopen.
    Resolved,
    /// Done for good.
    Closed,
}

impl Status {
    /// The name used in the API and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// Parses a name from [`Status::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "open" => Status::Open,
            "acknowledged" | "ack" => Status::Acknowledged,
            "resolved" => Status::Resolved,
            "closed" => Status::Closed,
            _ => return None,
        })
    }

    /// Open or acknowledged: someone still has to act.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::Acknowledged)
    }
}

/// One line of an incident's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    /// When.
    pub at: Timestamp,
    /// Who: an API token id, or `atalaya` for the collector itself.
    pub author: String,
    /// What kind of event: `opened`, `acknowledged`, `note`, `resolved`…
    pub event: String,
    /// In words.
    pub text: String,
}

/// The author of entries the collector writes itself.
pub const SYSTEM: &str = "atalaya";

/// The event of a note the help desk wrote for the person who reported
/// the incident as well (a plain note is `note`).
pub const PUBLIC_NOTE: &str = "public-note";

/// The event of a diagnostic action's result on the incident's machine
/// (`atalaya diag`), written by the person who asked for it.
pub const DIAGNOSTIC: &str = "diagnostic";

/// The event of a case opened with a supplier for the incident (see
/// [`SupplierCase`]).
pub const SUPPLIER_CASE: &str = "supplier-case";

/// A case the help desk opened with a supplier: who and under which case
/// number, as the timeline's [`SUPPLIER_CASE`] entry says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupplierCase {
    /// The supplier's name.
    pub supplier: String,
    /// The supplier's case (ticket) number.
    pub case: String,
}

impl SupplierCase {
    const PREFIX: &'static str = "escalated to supplier ";
    const CASE: &'static str = ", case ";

    /// The timeline text of the case.
    pub fn text(&self) -> String {
        format!(
            "{}{}{}{}",
            Self::PREFIX,
            self.supplier,
            Self::CASE,
            self.case
        )
    }

    /// The case a [`SUPPLIER_CASE`] entry's text tells of.
    pub fn parse(text: &str) -> Option<SupplierCase> {
        let (supplier, case) = text.strip_prefix(Self::PREFIX)?.rsplit_once(Self::CASE)?;
        Some(SupplierCase {
            supplier: supplier.to_owned(),
            case: case.to_owned(),
        })
    }
}

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncidentRecord {
    /// The id (the engine's incident number).
    pub id: u64,
    /// Asset id.
    pub asset: String,
    /// Rule name.
    pub rule: String,
    /// Mount point, interface… or `""`.
    pub subject: String,
    /// One line.
    pub title: String,
    /// What was seen.
    pub description: String,
    /// The rule's severity.
    pub severity: Severity,
    /// From severity and the asset's criticality (by the SLA policy's priority table).
    pub priority: Priority,
    /// Where it is in its life.
    pub status: Status,
    /// 1 (first level) or 2 (second level).
    pub level: u8,
    /// Who is on it.
    pub assignee: Option<String>,
    /// How often the condition or event occurred.
    pub occurrences: u32,
    /// Opens and clears too often.
    pub flapping: bool,
    /// When it opened (the time of the event that opened it).
    pub opened_at: Timestamp,
    /// When the collector stored it (wall clock), for latency figures.
    pub stored_at: Timestamp,
    /// First acknowledged.
    pub acknowledged_at: Option<Timestamp>,
    /// Last resolved.
    pub resolved_at: Option<Timestamp>,
    /// Closed.
    pub closed_at: Option<Timestamp>,
    /// Acknowledge by.
    pub acknowledge_due: Timestamp,
    /// Escalates (unacknowledged) from.
    pub at_risk_at: Timestamp,
    /// Resolve by.
    pub resolve_due: Timestamp,
    /// The acknowledge target was missed.
    pub acknowledge_breached: bool,
    /// The resolve target was missed.
    pub resolve_breached: bool,
    /// The solution staff recorded when resolving.
    pub solution: Option<String>,
    /// Knowledge-base articles linked to it, best first (filled by the KB).
    pub kb_articles: Vec<String>,
    /// History, oldest first.
    pub timeline: Vec<TimelineEntry>,
}

impl IncidentRecord {
    /// Asset, rule, subject.
    pub fn key(&self) -> IncidentKey {
        IncidentKey {
            asset: self.asset.clone(),
            rule: self.rule.clone(),
            subject: self.subject.clone(),
        }
    }

    pub fn log(&mut self, at: Timestamp, author: &str, event: &str, text: impl Into<String>) {
        self.timeline.push(TimelineEntry {
            at,
            author: author.to_owned(),
            event: event.to_owned(),
            text: text.into(),
        });
    }
}

/// Timeline event: staff named the knowledge-base article that solved the
/// incident (its `solved` count went up).
pub const KB_CONFIRMED: &str = "kb_confirmed";
/// Timeline event: the solution staff wrote was saved as a new article.
pub const KB_SAVED: &str = "kb_saved";

/// How an incident's resolution used the knowledge base, as its timeline
/// tells it (see [`KbSolution::entry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KbSolution {
    /// The article.
    pub article: u64,
    /// An existing article confirmed ([`KB_CONFIRMED`]), or the solution
    /// saved as this new one ([`KB_SAVED`]).
    pub confirmed: bool,
    /// The article was among those suggested when the incident opened.
    pub suggested: bool,
}

impl KbSolution {
    /// The timeline event and text that record it.
    pub fn entry(self) -> (&'static str, String) {
        let a = self.article;
        if !self.confirmed {
            return (
                KB_SAVED,
                format!("solution saved as knowledge-base article {a}"),
            );
        }
        let how = if self.suggested {
            "suggested"
        } else {
            "not among the suggestions"
        };
        (
            KB_CONFIRMED,
            format!("solved with knowledge-base article {a} ({how})"),
        )
    }

    /// Reads back what [`KbSolution::entry`] wrote; `None` for any other entry.
    pub fn of_entry(e: &TimelineEntry) -> Option<KbSolution> {
        let confirmed = match e.event.as_str() {
            KB_CONFIRMED => true,
            KB_SAVED => false,
            _ => return None,
        };
        let (_, rest) = e.text.split_once("knowledge-base article ")?;
        let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
        Some(KbSolution {
            article: digits.parse().ok()?,
            confirmed,
            suggested: confirmed && rest.ends_with("(suggested)"),
        })
    }
}

/// What the passing of time did to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaEvent {
    /// Unacknowledged and its acknowledge clock nearly used: moved to second level.
    Escalated,
    /// Not acknowledged in time.
    AcknowledgeBreached,
    /// Not resolved in time.
    ResolveBreached,
}

/// Something hooks (notifications, the knowledge base) should hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentNews {
    /// The engine asked to notify.
    Notify(NotifyEvent, IncidentRecord),
    /// The SLA clock did something.
    Sla(SlaEvent, IncidentRecord),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kb_solutions_read_back_from_the_timeline() {
        for kb in [
            KbSolution {
                article: 12,
                confirmed: true,
                suggested: true,
            },
            KbSolution {
                article: 3,
                confirmed: true,
                suggested: false,
            },
            KbSolution {
                article: 40,
                confirmed: false,
                suggested: false,
            },
        ] {
            let (event, text) = kb.entry();
            let e = TimelineEntry {
                at: Timestamp(1),
                author: "ana".into(),
                event: event.into(),
                text,
            };
            assert_eq!(KbSolution::of_entry(&e), Some(kb), "{e:?}");
        }
        let note = TimelineEntry {
            at: Timestamp(1),
            author: "ana".into(),
            event: "note".into(),
            text: "solved with knowledge-base article 7 (suggested)".into(),
        };
        assert_eq!(KbSolution::of_entry(&note), None);
    }
}
