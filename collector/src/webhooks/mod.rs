//! The delivery task: reads what is due in the outbox, sends it to its
//! webhooks and mail routes, records each answer.
//!
//! A round takes up to [`MAX_PER_ROUND`] due (event, target) pairs, sends
//! them concurrently (each on a blocking thread, bounded by the target's
//! timeout: a POST with ureq, an e-mail with lettre's SMTP client), then
//! records every outcome in one transaction: a 2xx from a webhook or a 250
//! from the mail server marks that target delivered (and, when it was the
//! last one, moves the event to `notify_sent`); anything else counts a
//! failure and sets the next attempt by [`crate::notify::route::backoff`].
//! Between rounds the task sleeps until the next attempt is due, at most
//! [`POLL`], or until woken.
//!
//! # Layout
//! - [`clients`]: the HTTP and SMTP clients, over rustls on the ring
//!   provider, trusting a configured CA file or the system's CAs.

pub mod clients;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use atalaya_common::model::Timestamp;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::notify::route::{NotifyConfig, Target, backoff};
use crate::notify::{Event, mail};
use crate::store::{Store, StoreError};
use clients::{Client, Clients, DeliveryError};

/// Longest sleep between two looks at the outbox, so events enqueued
/// without a wake are still sent promptly.
pub const POLL: Duration = Duration::from_secs(1);
/// Most deliveries attempted in one round.
pub const MAX_PER_ROUND: usize = 64;
/// Longest error text kept per delivery.
const MAX_ERROR_CHARS: usize = 300;

/// One delivery to make.
#[derive(Debug, Clone)]
struct Attempt {
    event_id: String,
    /// The target's delivery key (a webhook's name, or `mail:NAME`).
    target: String,
    payload: Payload,
}

/// What is sent.
#[derive(Debug, Clone)]
enum Payload {
    /// A JSON body POSTed to a URL.
    Post { url: String, body: String },
    /// An e-mail, ready for the wire.
    Mail {
        envelope: lettre::address::Envelope,
        message: Vec<u8>,
    },
    /// Nothing can be sent: why (recorded as the delivery's error).
    Unsendable(String),
}

/// How a delivery went: `Ok` once accepted, else why not.
type Outcome = Result<(), DeliveryError>;

/// The running delivery worker.
#[derive(Debug)]
pub struct Notifier {
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Notifier {
    /// Starts the worker on the current tokio runtime.
    pub fn start(store: Arc<Store>, config: NotifyConfig) -> Notifier {
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(store, config, wake.clone(), stopped));
        Notifier { wake, stop, task }
    }

    /// Looks at the outbox now (call after enqueuing).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A handle that wakes the worker, for code that does not own it.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Stops after the round in flight (whose outcomes are recorded).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the notification worker failed");
        }
    }
}

async fn run(
    store: Arc<Store>,
    config: NotifyConfig,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let config = Arc::new(config);
    let c = config.clone();
    // Reading the system's CA certificates touches the disk.
    let clients = match tokio::task::spawn_blocking(move || Clients::new(&c)).await {
        Ok(clients) => Arc::new(clients),
        Err(e) => {
            tracing::error!(error = %e, "the notification clients could not be made");
            return;
        }
    };
    loop {
        if *stopped.borrow() {
            break;
        }
        let wait = match round(&store, &config, &clients).await {
            Ok(Some(next)) => {
                let ms = next.0.saturating_sub(Timestamp::now().0).max(0);
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(POLL)
            }
            Ok(None) => POLL,
            Err(e) => {
                tracing::warn!(error = %e, "notification outbox round failed; retrying");
                POLL
            }
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            changed = stopped.changed() => {
                // The `Notifier` was dropped: nobody can stop us any more, so stop.
                if changed.is_err() {
                    break;
                }
            }
        }
    }
}

/// One round; returns when the next attempt is due, if any is waiting.
async fn round(
    store: &Arc<Store>,
    config: &Arc<NotifyConfig>,
    clients: &Arc<Clients>,
) -> Result<Option<Timestamp>, RoundError> {
    let (s, c) = (store.clone(), config.clone());
    let (due, next) = blocking(move || due(&s, &c, Timestamp::now())).await??;
    if due.is_empty() {
        return Ok(next);
    }
    let mut set = tokio::task::JoinSet::new();
    for a in due {
        let client = clients.get(&a.target);
        set.spawn_blocking(move || {
            let outcome = send(client.as_ref(), &a);
            (a, outcome)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(r) => results.push(r),
            Err(e) => tracing::error!(error = %e, "a delivery task failed"),
        }
    }
    let (s, c) = (store.clone(), config.clone());
    blocking(move || record(&s, &c, &results, Timestamp::now(), rand::random())).await??;
    // Something may be due right away (more than one round's worth).
    Ok(Some(Timestamp::now()))
}

/// Why a delivery round stopped early (it is tried again).
#[derive(Debug, thiserror::Error)]
enum RoundError {
    /// Reading or writing the outbox failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task that read or wrote the outbox panicked or was cancelled.
    #[error("outbox task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RoundError> {
    Ok(tokio::task::spawn_blocking(f).await?)
}

/// Sends one attempt with its target's client.
fn send(client: Option<&Client>, a: &Attempt) -> Outcome {
    match (&a.payload, client) {
        (Payload::Unsendable(why), _) => Err(DeliveryError::Unsendable(why.clone())),
        (Payload::Post { url, body }, Some(Client::Http(agent))) => {
            clients::post(agent, url, &a.event_id, body)
        }
        (Payload::Mail { envelope, message }, Some(Client::Mail(smtp))) => {
            clients::mail(smtp, envelope, message)
        }
        (_, Some(Client::Broken(why))) => Err(DeliveryError::Client(why.clone())),
        _ => Err(DeliveryError::NoClient),
    }
}

/// What is sent to `target` for `ev`; `json` is the webhook body.
fn payload(config: &NotifyConfig, target: Target<'_>, ev: &Event, json: &str) -> Payload {
    match target {
        Target::Webhook(w) => Payload::Post {
            url: w.url.clone(),
            body: json.to_owned(),
        },
        Target::Mail(route) => {
            let Some(smtp) = &config.smtp else {
                return Payload::Unsendable("no mail server ([smtp]) is configured".into());
            };
            match mail::message(ev, &smtp.from, &route.to, SystemTime::now()) {
                Ok(m) => Payload::Mail {
                    envelope: m.envelope().clone(),
                    message: m.formatted(),
                },
                Err(e) => Payload::Unsendable(format!("the message cannot be built: {e}")),
            }
        }
    }
}

/// The deliveries due at `now`, and when the earliest not yet due is.
/// Events that no target wants (any more) are moved to the sent ids.
fn due(
    store: &Store,
    config: &NotifyConfig,
    now: Timestamp,
) -> Result<(Vec<Attempt>, Option<Timestamp>), StoreError> {
    let mut out = Vec::new();
    let mut next: Option<Timestamp> = None;
    let mut done = Vec::new();
    for mut rec in store.outbox()? {
        let mut waiting = false;
        if let Some(template) = &config.incident_url {
            let id = rec.event.incident.id.to_string();
            rec.event.incident.url = Some(template.replace("{id}", &id));
        }
        let body = match rec.event.to_json() {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(event = %rec.event.id, error = %e, "event does not encode as JSON; dropped");
                done.push(rec.event.id.clone());
                continue;
            }
        };
        let targets: Vec<Target<'_>> = config.targets(&rec.event).collect();
        for target in targets {
            let key = target.key();
            if rec.delivered_to(&key) {
                continue;
            }
            waiting = true;
            let next_at = rec.delivery(&key).next_at;
            if next_at <= now {
                if out.len() < MAX_PER_ROUND {
                    out.push(Attempt {
                        event_id: rec.event.id.clone(),
                        target: key.into_owned(),
                        payload: payload(config, target, &rec.event, &body),
                    });
                } else {
                    next = Some(now);
                }
            } else {
                next = Some(next.map_or(next_at, |n| n.min(next_at)));
            }
        }
        if !waiting {
            done.push(rec.event.id.clone());
        }
    }
    if !done.is_empty() {
        store.outbox_done(&done, now)?;
    }
    Ok((out, next))
}

/// Records the outcomes of a round in one transaction. `jitter` (0..1)
/// spreads the retry times.
fn record(
    store: &Store,
    config: &NotifyConfig,
    results: &[(Attempt, Outcome)],
    now: Timestamp,
    jitter: f64,
) -> Result<(), StoreError> {
    let mut by_event: HashMap<&str, Vec<&(Attempt, Outcome)>> = HashMap::new();
    for r in results {
        by_event.entry(r.0.event_id.as_str()).or_default().push(r);
    }
    store.outbox_update(by_event.keys().copied(), now, |rec| {
        let id = rec.event.id.clone();
        for (a, outcome) in by_event.get(id.as_str()).into_iter().flatten() {
            let d = rec.delivery(&a.target);
            match outcome {
                Ok(()) => {
                    d.delivered_at = Some(now);
                    d.last_error = None;
                    tracing::info!(event = %id, target = %a.target, "notification delivered");
                }
                Err(e) => {
                    d.failures = d.failures.saturating_add(1);
                    let wait = backoff(&config.retry, d.failures, jitter);
                    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                    d.next_at = Timestamp(now.0.saturating_add(wait_ms));
                    d.last_error = Some(e.to_string().chars().take(MAX_ERROR_CHARS).collect());
                    tracing::warn!(
                        event = %id, target = %a.target, failures = d.failures,
                        retry_in_ms = wait_ms, error = %e, "notification delivery failed"
                    );
                }
            }
        }
        config
            .targets(&rec.event)
            .all(|t| rec.delivered_to(&t.key()))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::notify::route::{Filter, Retry, Webhook};
    use crate::records::outbox::{Event, EventKind, IncidentInfo};

    fn hook(name: &str) -> Webhook {
        Webhook {
            timeout: Duration::from_secs(1),
            ..Webhook::new(name, format!("http://{name}.invalid/"))
        }
    }

    #[test]
    fn failures_back_off_and_success_is_recorded_per_webhook() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.redb")).unwrap();
        let config = NotifyConfig {
            webhooks: vec![hook("a"), hook("b")],
            retry: Retry {
                initial: Duration::from_secs(10),
                max: Duration::from_secs(100),
            },
            incident_url: Some("https://desk.example/incidents/{id}".into()),
            ..NotifyConfig::default()
        };
        let info = IncidentInfo {
            id: 7,
            ..IncidentInfo::default()
        };
        let ev = Event::new(EventKind::Opened, 1, info, Timestamp(0));
        s.enqueue(&ev, Timestamp(1_000)).unwrap();
        let (due1, next) = due(&s, &config, Timestamp(1_000)).unwrap();
        assert_eq!(due1.len(), 2);
        let Payload::Post { body, .. } = &due1[0].payload else {
            panic!("a webhook gets a POST")
        };
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            body["incident"]["url"], "https://desk.example/incidents/7",
            "the link is made from [notify] incident_url"
        );
        assert_eq!(next, None);
        let results: Vec<(Attempt, Outcome)> = due1
            .into_iter()
            .map(|a| {
                let o = if a.target == "a" {
                    Ok(())
                } else {
                    Err(DeliveryError::Status(
                        ureq::http::StatusCode::INTERNAL_SERVER_ERROR,
                    ))
                };
                (a, o)
            })
            .collect();
        record(&s, &config, &results, Timestamp(2_000), 0.5).unwrap();
        // a is done; b waits 10 s.
        let (due2, next) = due(&s, &config, Timestamp(2_000)).unwrap();
        assert!(due2.is_empty());
        assert_eq!(next, Some(Timestamp(12_000)));
        let (due3, _) = due(&s, &config, Timestamp(12_000)).unwrap();
        assert_eq!(
            due3.iter().map(|a| a.target.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        let rec = &s.outbox().unwrap()[0];
        assert_eq!(rec.deliveries.len(), 2);
        assert_eq!(
            rec.deliveries[1].last_error.as_deref(),
            Some("HTTP 500 Internal Server Error")
        );
        let results: Vec<_> = due3.into_iter().map(|a| (a, Ok(()))).collect();
        record(&s, &config, &results, Timestamp(13_000), 0.5).unwrap();
        assert!(s.outbox().unwrap().is_empty());
        assert_eq!(s.sent_at(&ev.id).unwrap(), Some(Timestamp(13_000)));
        assert!(
            !s.enqueue(&ev, Timestamp(14_000)).unwrap(),
            "sent ids are not enqueued again"
        );
    }

    #[test]
    fn an_event_no_webhook_wants_is_done_at_once() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.redb")).unwrap();
        let mut only_critical = hook("a");
        only_critical.filter = Filter {
            severities: vec![crate::incidents::Severity::Critical],
            ..Filter::default()
        };
        let config = NotifyConfig {
            webhooks: vec![only_critical],
            ..NotifyConfig::default()
        };
        let ev = Event::new(EventKind::Opened, 1, IncidentInfo::default(), Timestamp(0));
        s.enqueue(&ev, Timestamp(0)).unwrap();
        let (due, next) = due(&s, &config, Timestamp(0)).unwrap();
        assert!(due.is_empty() && next.is_none());
        assert!(s.outbox().unwrap().is_empty());
        assert!(s.sent_at(&ev.id).unwrap().is_some());
    }

    #[test]
    fn a_mail_route_is_a_target_recorded_under_its_mail_key_beside_the_webhooks() {
        use crate::notify::route::{MailRoute, Security, Smtp};
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("s.redb")).unwrap();
        let config = NotifyConfig {
            webhooks: vec![hook("oncall")],
            smtp: Some(Smtp {
                host: "mail.invalid".into(),
                port: 587,
                security: Security::StartTls,
                login: None,
                from: "Atalaya <atalaya@example.org>".parse().unwrap(),
                ca: None,
                timeout: Duration::from_secs(1),
            }),
            // Same name as the webhook: the keys still differ.
            mail: vec![MailRoute {
                name: "oncall".into(),
                to: vec!["oncall@example.org".parse().unwrap()],
                filter: Filter::default(),
            }],
            retry: Retry {
                initial: Duration::from_secs(10),
                max: Duration::from_secs(100),
            },
            incident_url: None,
        };
        let ev = Event::new(EventKind::Opened, 1, IncidentInfo::default(), Timestamp(0));
        s.enqueue(&ev, Timestamp(1_000)).unwrap();
        let (due1, _) = due(&s, &config, Timestamp(1_000)).unwrap();
        assert_eq!(
            due1.iter().map(|a| a.target.as_str()).collect::<Vec<_>>(),
            ["oncall", "mail:oncall"]
        );
        let Payload::Mail { envelope, message } = &due1[1].payload else {
            panic!("a mail route gets a message: {:?}", due1[1].payload)
        };
        assert_eq!(envelope.to().len(), 1);
        let text = String::from_utf8_lossy(message);
        assert!(
            text.contains("Message-ID: <incident-0-opened-1@example.org>"),
            "{text}"
        );
        // The webhook answers, the mail server does not: the event waits
        // for the mail route only.
        let results: Vec<(Attempt, Outcome)> = due1
            .into_iter()
            .map(|a| {
                let o = if a.target == "oncall" {
                    Ok(())
                } else {
                    Err(DeliveryError::Unsendable("server down".into()))
                };
                (a, o)
            })
            .collect();
        record(&s, &config, &results, Timestamp(2_000), 0.5).unwrap();
        let rec = &s.outbox().unwrap()[0];
        assert!(rec.delivered_to("oncall") && !rec.delivered_to("mail:oncall"));
        assert_eq!(rec.deliveries[1].last_error.as_deref(), Some("server down"));
        let (due2, _) = due(&s, &config, Timestamp(12_000)).unwrap();
        assert_eq!(
            due2.iter().map(|a| a.target.as_str()).collect::<Vec<_>>(),
            ["mail:oncall"]
        );
        let results: Vec<_> = due2.into_iter().map(|a| (a, Ok(()))).collect();
        record(&s, &config, &results, Timestamp(13_000), 0.5).unwrap();
        assert_eq!(s.sent_at(&ev.id).unwrap(), Some(Timestamp(13_000)));
    }
}
