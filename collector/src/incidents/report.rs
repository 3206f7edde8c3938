//! The service-level report: per priority, how many incidents met their
//! acknowledge and resolve targets, and the mean times. Pure: it reads
//! the incidents it is given.

use std::collections::BTreeMap;

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::records::incident::{IncidentRecord, Priority};

/// Per-priority SLA figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlaLine {
    /// `P1` … `P4`.
    pub priority: String,
    /// Incidents of this priority.
    pub incidents: u64,
    /// Of them open or acknowledged now.
    pub active: u64,
    /// Acknowledged within target.
    pub acknowledge_met: u64,
    /// Acknowledged late, or not yet and overdue.
    pub acknowledge_breached: u64,
    /// Resolved within target.
    pub resolve_met: u64,
    /// Resolved late, or not yet and overdue.
    pub resolve_breached: u64,
    /// Mean seconds from opening to first acknowledgement (acknowledged ones).
    pub mean_acknowledge_seconds: Option<f64>,
    /// Mean seconds from opening to resolution (resolved or closed ones).
    pub mean_resolve_seconds: Option<f64>,
}

/// The SLA report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlaReport {
    /// When it was made.
    pub at: Timestamp,
    /// One line per priority, P1 first.
    pub priorities: Vec<SlaLine>,
}

/// The SLA report over `incidents` at `now`.
pub fn sla_report(incidents: &[IncidentRecord], now: Timestamp) -> SlaReport {
    let mut lines: BTreeMap<Priority, (SlaLine, Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for p in Priority::ALL {
        let line = SlaLine {
            priority: p.name().to_owned(),
            ..SlaLine::default()
        };
        lines.insert(p, (line, Vec::new(), Vec::new()));
    }
    for rec in incidents {
        let Some((line, acks, resolves)) = lines.get_mut(&rec.priority) else {
            continue;
        };
        line.incidents += 1;
        if rec.status.is_active() {
            line.active += 1;
        }
        match rec.acknowledged_at {
            Some(at) => {
                acks.push((at.0 - rec.opened_at.0) as f64 / 1000.0);
                if rec.acknowledge_breached || at > rec.acknowledge_due {
                    line.acknowledge_breached += 1;
                } else {
                    line.acknowledge_met += 1;
                }
            }
            None if (rec.acknowledge_breached || now > rec.acknowledge_due)
                && rec.status.is_active() =>
            {
                line.acknowledge_breached += 1;
            }
            None => {}
        }
        match rec.resolved_at {
            Some(at) if !rec.status.is_active() => {
                resolves.push((at.0 - rec.opened_at.0) as f64 / 1000.0);
                if rec.resolve_breached || at > rec.resolve_due {
                    line.resolve_breached += 1;
                } else {
                    line.resolve_met += 1;
                }
            }
            _ if rec.resolve_breached || now > rec.resolve_due => {
                line.resolve_breached += 1;
            }
            _ => {}
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    SlaReport {
        at: now,
        priorities: lines
            .into_values()
            .map(|(mut line, acks, resolves)| {
                line.mean_acknowledge_seconds = mean(&acks);
                line.mean_resolve_seconds = mean(&resolves);
                line
            })
            .collect(),
    }
}
