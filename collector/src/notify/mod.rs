//! Outbound webhooks from a durable outbox.
//!
//! An incident event ([`Event`]) is first written to the store's
//! `notify_outbox` table ([`enqueue`], or [`enqueue_in`] inside the
//! transaction that stores the incident, so the two commit together). The
//! delivery worker ([`worker::Notifier`]) POSTs it as JSON to every
//! webhook whose routing wants it ([`route`]), with the header
//! `X-Atalaya-Event-Id`, retrying each failed webhook with exponential
//! backoff and jitter until it answers 2xx. Per webhook, the 2xx is
//! recorded in the outbox in one transaction; once every routed webhook has
//! answered, the event moves to `notify_sent`.
//!
//! # Guarantees (at least once)
//! - Nothing is lost: an event is in the outbox from the commit of
//!   [`enqueue`] until every webhook it goes to has answered 2xx, across
//!   collector restarts.
//! - An event id is enqueued once: enqueuing an id that is pending or
//!   already sent does nothing, so replaying incident actions resends nothing.
//! - A webhook that answered 2xx and whose answer was committed is never
//!   sent the event again. If the collector dies between a receiver's 2xx
//!   and that commit, the event is sent again after the restart: receivers
//!   must deduplicate by `X-Atalaya-Event-Id` (the `id` in the body). That
//!   is the at-least-once contract every webhook sender has; exactly once
//!   would need the receiver's cooperation.
//!
//! # For the incident side
//! For each engine [`crate::incidents::Action`], [`Event::from_action`]
//! gives the event of a `Notify` action (ids `incident-<n>-<kind>-<occurrence>`,
//! so a replay yields the same ids); enqueue it with [`enqueue_in`] in the
//! transaction that stores the incident. For escalation and SLA breaches,
//! build one with [`Event::new`] (`seq`: the escalation level, the clock…).
//! Then call [`worker::Notifier::wake`] (the worker also looks at the
//! outbox every second, so a missed wake only delays).
//!
//! # Layout
//! - [`route`]: webhook settings, routing, backoff.
//! - [`worker`]: the delivery task.

pub mod route;
pub mod worker;

use std::fmt;

use atalaya_common::model::Timestamp;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

pub use route::{NotifyConfig, Retry, Webhook};
pub use worker::Notifier;

use crate::incidents::lifecycle::SlaEvent;
use crate::incidents::{Action, ActionKind, NotifyEvent, Severity};
use crate::store::schema::{ASSETS, NOTIFY_OUTBOX, NOTIFY_SENT};
use crate::store::{AssetMeta, IncidentNews, Store, StoreError, dec, enc};

const OUTBOX: &str = "notify_outbox";

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

    /// The event of an engine `Notify` action (`None` for other actions).
    /// Its sequence is the occurrence count, so each opening, reopening
    /// and resolution of an incident has its own id and a replay the same.
    pub fn from_action(a: &Action, ctx: &IncidentContext) -> Option<Event> {
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

    /// The JSON body.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Delivery to one webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Webhook name.
    pub webhook: String,
    /// Failed attempts so far.
    pub failures: u32,
    /// Not to be tried before.
    pub next_at: Timestamp,
    /// When it answered 2xx (then it is never sent this event again).
    pub delivered_at: Option<Timestamp>,
    /// Why the latest attempt failed.
    pub last_error: Option<String>,
}

/// An event waiting in the outbox, with its delivery to each webhook tried so far.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRecord {
    /// The event.
    pub event: Event,
    /// When it was enqueued.
    pub enqueued_at: Timestamp,
    /// Per webhook tried; a routed webhook not listed has not been tried.
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
    /// The delivery state for `webhook`, created untried if missing.
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

    /// Whether `webhook` has answered 2xx.
    pub fn delivered_to(&self, webhook: &str) -> bool {
        self.deliveries
            .iter()
            .any(|d| d.webhook == webhook && d.delivered_at.is_some())
    }
}

/// Puts an event in the outbox inside the caller's transaction. Returns
/// false (and changes nothing) when an event with this id is pending or
/// was sent already.
pub fn enqueue_in(txn: &WriteTransaction, ev: &Event, now: Timestamp) -> Result<bool, StoreError> {
    if txn.open_table(NOTIFY_SENT)?.get(ev.id.as_str())?.is_some() {
        return Ok(false);
    }
    let mut outbox = txn.open_table(NOTIFY_OUTBOX)?;
    if outbox.get(ev.id.as_str())?.is_some() {
        return Ok(false);
    }
    let rec = OutboxRecord {
        event: ev.clone(),
        enqueued_at: now,
        deliveries: Vec::new(),
    };
    outbox.insert(ev.id.as_str(), enc(OUTBOX, &rec)?.as_slice())?;
    Ok(true)
}

/// Puts an event in the outbox in a transaction of its own (see [`enqueue_in`]).
pub fn enqueue(store: &Store, ev: &Event, now: Timestamp) -> Result<bool, StoreError> {
    let txn = store.begin_write()?;
    let added = enqueue_in(&txn, ev, now)?;
    txn.commit()?;
    Ok(added)
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

/// Queues the event of each piece of news inside the transaction that
/// stored it (host names from the `assets` table). Returns how many were new.
pub fn enqueue_news_in(
    txn: &WriteTransaction,
    news: &[IncidentNews],
    now: Timestamp,
) -> Result<usize, StoreError> {
    let mut added = 0;
    for n in news {
        let rec = match n {
            IncidentNews::Notify(_, rec) | IncidentNews::Sla(_, rec) => rec,
        };
        let hostname = {
            let assets = txn.open_table(ASSETS)?;
            match assets.get(rec.asset.as_str())? {
                Some(v) => dec::<AssetMeta>("assets", v.value())?.hostname,
                None => String::new(),
            }
        };
        if enqueue_in(txn, &news_event(n, hostname), now)? {
            added += 1;
        }
    }
    Ok(added)
}

/// Events not yet delivered everywhere, by id.
pub fn pending(store: &Store) -> Result<Vec<OutboxRecord>, StoreError> {
    let txn = store.begin_read()?;
    let t = txn.open_table(NOTIFY_OUTBOX)?;
    t.iter()?
        .map(|r| {
            let (_, v) = r?;
            dec(OUTBOX, v.value())
        })
        .collect()
}

/// When an event was delivered to every webhook it went to (`None`: not yet, or unknown).
pub fn sent_at(store: &Store, id: &str) -> Result<Option<Timestamp>, StoreError> {
    let txn = store.begin_read()?;
    let t = txn.open_table(NOTIFY_SENT)?;
    Ok(t.get(id)?.map(|v| Timestamp(v.value())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::incidents::IncidentKey;

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
        assert_eq!(Event::from_action(&action(ActionKind::Open, 1), &ctx), None);
        let ev = Event::from_action(&action(ActionKind::Notify(NotifyEvent::Reopened), 3), &ctx)
            .unwrap();
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

    #[test]
    fn an_event_id_is_enqueued_once() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.redb")).unwrap();
        let ev = Event::new(EventKind::Opened, 1, IncidentInfo::default(), Timestamp(5));
        assert!(enqueue(&s, &ev, Timestamp(5)).unwrap());
        assert!(!enqueue(&s, &ev, Timestamp(6)).unwrap());
        assert_eq!(pending(&s).unwrap().len(), 1);
        assert_eq!(sent_at(&s, &ev.id).unwrap(), None);
        for k in EventKind::NAMES {
            assert_eq!(EventKind::parse(k).map(EventKind::name), Some(*k));
        }
    }
}
