//! Outbound notifications: what an incident event says and where it goes
//! (webhooks and e-mail). Pure: the events are queued by the desk in the
//! transaction that stores the incident (`DeskTxn::enqueue` in the store)
//! and sent by the delivery worker (`webhooks::Notifier`).
//!
//! An incident event ([`Event`]) is first written to the store's outbox.
//! The worker delivers it to every target whose routing wants it
//! ([`route`]): it POSTs it as JSON to each webhook, with the header
//! `X-Atalaya-Event-Id`, and sends it as one e-mail ([`mail`]) to each mail
//! route's recipients, retrying each failed target with exponential
//! backoff and jitter until a webhook answers 2xx or the mail server
//! accepts the message (250). Per target, that answer is recorded in the
//! outbox in one transaction; once every routed target has answered, the
//! event moves to the sent ids.
//!
//! # Guarantees (at least once)
//! - Nothing is lost: an event is in the outbox from the commit that
//!   queued it until every target it goes to has accepted it, across
//!   collector restarts.
//! - An event id is queued once: queuing an id that is pending or already
//!   sent does nothing, so replaying incident actions resends nothing.
//! - A target that accepted the event and whose answer was committed is
//!   never sent the event again. If the collector dies between a
//!   receiver's answer and that commit, the event is sent again after the
//!   restart: webhook receivers must deduplicate by `X-Atalaya-Event-Id`
//!   (the `id` in the body), and a resent e-mail carries the same
//!   `Message-ID`. That is the at-least-once contract every sender has;
//!   exactly once would need the receiver's cooperation.
//!
//! # For the incident side
//! For each engine [`crate::incidents::Action`], [`event_of_action`]
//! gives the event of a `Notify` action (ids `incident-<n>-<kind>-<occurrence>`,
//! so a replay yields the same ids); [`news_event`] the event of stored
//! news (staff actions, SLA events). For anything else, build one with
//! [`Event::new`] (`seq`: the escalation level, the clock…).
//!
//! # Layout
//! - [`route`]: webhook, mail server and mail route settings, routing, backoff.
//! - [`mail`]: the e-mail of an event.

pub mod mail;
pub mod route;

pub use route::{
    CaFile, Filter, MailRoute, NotifyConfig, ReadFiles, Retry, Security, Smtp, Target, Webhook,
};

use crate::incidents::{Action, ActionKind};
use crate::records::incident::{IncidentNews, NotifyEvent, SlaEvent};
pub use crate::records::outbox::{Delivery, Event, EventKind, IncidentInfo, OutboxRecord};

/// What the engine's actions do not carry about an incident.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentContext {
    /// The asset's host name.
    pub hostname: String,
    /// The incident's priority.
    pub priority: Option<String>,
    /// Where to look at it.
    pub url: Option<String>,
}

/// The event of an engine `Notify` action (`None` for other actions).
/// Its sequence is the occurrence count, so each opening, reopening
/// and resolution of an incident has its own id and a replay the same.
pub fn event_of_action(a: &Action, ctx: &IncidentContext) -> Option<Event> {
    let ActionKind::Notify(what) = a.kind else {
        return None;
    };
    let info = IncidentInfo {
        id: a.incident,
        asset: a.key.asset.clone(),
        hostname: ctx.hostname.clone(),
        rule: a.key.rule.clone(),
        subject: a.key.subject.clone(),
        severity: a.severity,
        priority: ctx.priority.clone(),
        title: a.title.clone(),
        description: a.description.clone(),
        occurrences: a.occurrences,
        url: ctx.url.clone(),
    };
    Some(Event::new(
        what.into(),
        u64::from(a.occurrences),
        info,
        a.at,
    ))
}

/// The webhook event of a piece of news. Ids are stable (`incident-<n>-
/// <kind>-<seq>`; seq: the occurrence count, the level for escalations,
/// 1 and 2 for the acknowledge and resolve breaches), so a replayed action
/// enqueues nothing new.
pub fn news_event(news: &IncidentNews, hostname: String) -> Event {
    let (kind, seq, rec, at) = match news {
        IncidentNews::Notify(what, rec) => {
            let at = match what {
                NotifyEvent::Resolved => rec.resolved_at.unwrap_or(rec.opened_at),
                _ => rec.timeline.last().map_or(rec.opened_at, |e| e.at),
            };
            // Resolutions, reopenings and flapping can come from the engine
            // or from staff, several times at one occurrence count: their
            // sequence is how many such entries the timeline has.
            let seq = match what {
                NotifyEvent::Resolved | NotifyEvent::Reopened | NotifyEvent::Flapping => {
                    let name = EventKind::from(*what).name();
                    rec.timeline.iter().filter(|e| e.event == name).count() as u64
                }
                NotifyEvent::Opened | NotifyEvent::Updated => u64::from(rec.occurrences),
            };
            (EventKind::from(*what), seq, rec, at)
        }
        IncidentNews::Sla(e, rec) => {
            let at = rec.timeline.last().map_or(rec.opened_at, |e| e.at);
            match e {
                SlaEvent::Escalated => (EventKind::Escalated, u64::from(rec.level), rec, at),
                SlaEvent::AcknowledgeBreached => (EventKind::Breached, 1, rec, at),
                SlaEvent::ResolveBreached => (EventKind::Breached, 2, rec, at),
            }
        }
    };
    let info = IncidentInfo {
        id: rec.id,
        asset: rec.asset.clone(),
        hostname,
        rule: rec.rule.clone(),
        subject: rec.subject.clone(),
        severity: rec.severity,
        priority: Some(rec.priority.name().to_owned()),
        title: rec.title.clone(),
        description: rec.description.clone(),
        occurrences: rec.occurrences,
        url: None,
    };
    Event::new(kind, seq, info, at)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::incidents::{IncidentKey, Severity};
    use atalaya_common::model::Timestamp;

    fn action(kind: ActionKind, occurrences: u32) -> Action {
        Action {
            kind,
            incident: 7,
            key: IncidentKey {
                asset: "asset-1".into(),
                rule: "filesystem-full".into(),
                subject: "/var".into(),
            },
            at: Timestamp::from_secs(1_800_000_000),
            severity: Severity::High,
            title: "filesystem-full on web-01 (/var)".into(),
            description: "95 %".into(),
            occurrences,
            flapping: false,
        }
    }

    #[test]
    fn events_come_from_notify_actions_with_stable_ids() {
        let ctx = IncidentContext {
            hostname: "web-01".into(),
            priority: Some("P2".into()),
            url: None,
        };
        assert_eq!(event_of_action(&action(ActionKind::Open, 1), &ctx), None);
        let ev =
            event_of_action(&action(ActionKind::Notify(NotifyEvent::Reopened), 3), &ctx).unwrap();
        assert_eq!(ev.id, "incident-7-reopened-3");
        assert_eq!(ev.kind, EventKind::Reopened);
        assert_eq!(ev.incident.hostname, "web-01");
        let json: serde_json::Value = serde_json::from_str(&ev.to_json().unwrap()).unwrap();
        assert_eq!(json["kind"], "reopened");
        assert_eq!(json["at"], "2027-01-15T08:00:00Z");
        assert_eq!(json["incident"]["severity"], "high");
        assert_eq!(json["incident"]["priority"], "P2");
        assert_eq!(json["incident"]["subject"], "/var");
    }
}
