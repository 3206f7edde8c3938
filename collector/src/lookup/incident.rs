//! Open incidents as the lookup lists them: a line each, with where they
//! stand against their SLA targets now.

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::records::incident::{IncidentRecord, Priority, Status};

/// Where an open incident stands against its SLA targets now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaState {
    /// Within its targets.
    Ok,
    /// Unacknowledged past the at-risk point (escalated to second level).
    AtRisk,
    /// A target was missed.
    Breached,
}

impl SlaState {
    /// The name used in the API and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            SlaState::Ok => "ok",
            SlaState::AtRisk => "at_risk",
            SlaState::Breached => "breached",
        }
    }

    /// Parses a name from [`SlaState::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "ok" => SlaState::Ok,
            "at_risk" => SlaState::AtRisk,
            "breached" => SlaState::Breached,
            _ => return None,
        })
    }

    /// The state of `r` at `now`. A resolved or closed incident is
    /// breached when a target was missed, else ok.
    pub fn of(r: &IncidentRecord, now: Timestamp) -> Self {
        if !r.status.is_active() {
            return if r.acknowledge_breached || r.resolve_breached {
                SlaState::Breached
            } else {
                SlaState::Ok
            };
        }
        let unacknowledged = r.status == Status::Open;
        if r.acknowledge_breached
            || r.resolve_breached
            || now > r.resolve_due
            || (unacknowledged && now > r.acknowledge_due)
        {
            SlaState::Breached
        } else if unacknowledged && now >= r.at_risk_at {
            SlaState::AtRisk
        } else {
            SlaState::Ok
        }
    }
}

/// An open or acknowledged incident, in one line's worth of fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IncidentLine {
    /// Incident number.
    pub id: u64,
    /// `P1` … `P4`.
    pub priority: Priority,
    /// `open` or `acknowledged`.
    pub status: Status,
    /// One line.
    pub title: String,
    /// Rule name.
    pub rule: String,
    /// When it opened.
    pub opened_at: Timestamp,
    /// Who is on it.
    pub assignee: Option<String>,
    /// 1 or 2.
    pub level: u8,
    /// Acknowledge by.
    pub acknowledge_due: Timestamp,
    /// Resolve by.
    pub resolve_due: Timestamp,
    /// Against its SLA targets now.
    pub sla: SlaState,
}

impl IncidentLine {
    /// The line of `r` at `now`.
    pub fn new(r: &IncidentRecord, now: Timestamp) -> Self {
        IncidentLine {
            id: r.id,
            priority: r.priority,
            status: r.status,
            title: r.title.clone(),
            rule: r.rule.clone(),
            opened_at: r.opened_at,
            assignee: r.assignee.clone(),
            level: r.level,
            acknowledge_due: r.acknowledge_due,
            resolve_due: r.resolve_due,
            sla: SlaState::of(r, now),
        }
    }
}
