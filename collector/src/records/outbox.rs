//! Incident events as queued in the outbox, with their delivery state per
//! target (webhook or mail route).

use std::fmt;

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};

use super::incident::{NotifyEvent, Severity};

/// What happened to the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// It opened.
    Opened,
    /// It occurred again or has news.
    Updated,
    /// It opened again after resolving.
    Reopened,
    /// It resolved.
    Resolved,
    /// It went to the second support level.
    Escalated,
    /// It started flapping.
    Flapping,
    /// An SLA target was missed.
    Breached,
}

impl EventKind {
    /// Every kind's name, as in the JSON body and the `events` setting.
    pub const NAMES: &[&str] = &[
        "opened",
        "updated",
        "reopened",
        "resolved",
        "escalated",
        "flapping",
        "breached",
    ];

    const ALL: [EventKind; 7] = [
        EventKind::Opened,
        EventKind::Updated,
        EventKind::Reopened,
        EventKind::Resolved,
        EventKind::Escalated,
        EventKind::Flapping,
        EventKind::Breached,
    ];

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Updated => "updated",
            EventKind::Reopened => "reopened",
            EventKind::Resolved => "resolved",
            EventKind::Escalated => "escalated",
            EventKind::Flapping => "flapping",
            EventKind::Breached => "breached",
        }
    }

    /// The kind with this name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl From<NotifyEvent> for EventKind {
    fn from(e: NotifyEvent) -> Self {
        match e {
            NotifyEvent::Opened => EventKind::Opened,
            NotifyEvent::Updated => EventKind::Updated,
            NotifyEvent::Reopened => EventKind::Reopened,
            NotifyEvent::Resolved => EventKind::Resolved,
            NotifyEvent::Flapping => EventKind::Flapping,
        }
    }
}

/// The incident an event is about, as receivers see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentInfo {
    /// Incident number.
    pub id: u64,
    /// Asset id.
    pub asset: String,
    /// The asset's host name.
    pub hostname: String,
    /// Rule name.
    pub rule: String,
    /// Mount point, interface… or `""`.
    pub subject: String,
    /// Severity.
    pub severity: Severity,
    /// Priority, e.g. `P2`, when the incident has one.
    pub priority: Option<String>,
    /// One line.
    pub title: String,
    /// What was seen.
    pub description: String,
    /// Occurrences so far.
    pub occurrences: u32,
    /// Where to look at it (dashboard or API address), when known.
    pub url: Option<String>,
}

impl Default for IncidentInfo {
    fn default() -> Self {
        IncidentInfo {
            id: 0,
            asset: String::new(),
            hostname: String::new(),
            rule: String::new(),
            subject: String::new(),
            severity: Severity::Info,
            priority: None,
            title: String::new(),
            description: String::new(),
            occurrences: 0,
            url: None,
        }
    }
}

/// One notification: the JSON body POSTed to webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unique: `incident-<n>-<kind>-<seq>`; also sent as `X-Atalaya-Event-Id`.
    pub id: String,
    /// What happened.
    pub kind: EventKind,
    /// When it happened.
    pub at: Timestamp,
    /// The incident.
    pub incident: IncidentInfo,
}

impl Event {
    /// An event with the id `incident-<info.id>-<kind>-<seq>`.
    pub fn new(kind: EventKind, seq: u64, info: IncidentInfo, at: Timestamp) -> Event {
        Event {
            id: format!("incident-{}-{}-{seq}", info.id, kind.name()),
            kind,
            at,
            incident: info,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Delivery to one target: a webhook or a mail route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The target's key: a webhook's name, or `mail:NAME` for a mail route
    /// (webhooks kept their bare names when mail routes came, so stores
    /// written before need no upgrade).
    pub webhook: String,
    /// Failed attempts so far.
    pub failures: u32,
    /// Not to be tried before.
    pub next_at: Timestamp,
    /// When it accepted the event, a webhook with a 2xx, a mail server
    /// with 250 (then it is never sent this event again).
    pub delivered_at: Option<Timestamp>,
    /// Why the latest attempt failed.
    pub last_error: Option<String>,
}

/// An event waiting in the outbox, with its delivery to each target tried so far.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The event.
    pub event: Event,
    /// When it was enqueued.
    pub enqueued_at: Timestamp,
    /// Per target tried; a routed target not listed has not been tried.
    pub deliveries: Vec<Delivery>,
}

impl fmt::Debug for OutboxRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxRecord")
            .field("event", &self.event.id)
            .field("enqueued_at", &self.enqueued_at)
            .field("deliveries", &self.deliveries)
            .finish()
    }
}

impl OutboxRecord {
    /// The delivery state for the target `webhook` (a delivery key),
    /// created untried if missing.
    pub fn delivery(&mut self, webhook: &str) -> &mut Delivery {
        let pos = match self.deliveries.iter().position(|d| d.webhook == webhook) {
            Some(p) => p,
            None => {
                self.deliveries.push(Delivery {
                    webhook: webhook.to_owned(),
                    failures: 0,
                    next_at: self.enqueued_at,
                    delivered_at: None,
                    last_error: None,
                });
                self.deliveries.len() - 1
            }
        };
        &mut self.deliveries[pos]
    }

    /// Whether the target `webhook` (a delivery key) has accepted the event.
    pub fn delivered_to(&self, webhook: &str) -> bool {
        self.deliveries
            .iter()
            .any(|d| d.webhook == webhook && d.delivered_at.is_some())
    }
}
