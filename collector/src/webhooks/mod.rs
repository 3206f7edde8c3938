//! The delivery task: reads what is due in the outbox, POSTs it, records
//! each answer.
//!
//! A round takes up to [`MAX_PER_ROUND`] due (event, webhook) pairs, sends
//! them concurrently (ureq, each on a blocking thread, bounded by the
//! webhook's timeout), then records every outcome in one transaction: a 2xx
//! marks that webhook delivered (and, when it was the last one, moves the
//! event to `notify_sent`); anything else counts a failure and sets the
//! next attempt by [`crate::notify::route::backoff`]. Between rounds the task
//! sleeps until the next attempt is due, at most [`POLL`], or until woken.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use atalaya_common::model::Timestamp;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::notify::route::{NotifyConfig, backoff};
use crate::store::{Store, StoreError};

/// Longest sleep between two looks at the outbox, so events enqueued
/// without a wake are still sent promptly.
pub const POLL: Duration = Duration::from_secs(1);
/// Most deliveries attempted in one round.
pub const MAX_PER_ROUND: usize = 64;
/// Longest error text kept per delivery.
const MAX_ERROR_CHARS: usize = 300;

/// One POST to make.
#[derive(Debug, Clone)]
struct Attempt {
    event_id: String,
    webhook: String,
    url: String,
    body: String,
}

/// How a POST went: `Ok` for a 2xx, else why not.
type Outcome = Result<(), DeliveryError>;

/// Why a POST did not deliver an event. Its text is kept with the delivery
/// as its last error, for the administrator.
#[derive(Debug, thiserror::Error)]
enum DeliveryError {
    /// The webhook answered with a status other than 2xx.
    #[error("HTTP {0}")]
    Status(ureq::http::StatusCode),
    /// No answer: connection, TLS, timeout.
    #[error("{0}")]
    Transport(#[source] ureq::Error),
    /// The worker made no client for this webhook.
    #[error("webhook has no client (a bug)")]
    NoClient,
}

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
            tracing::error!(error = %e, "the webhook worker failed");
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
    let agents: Arc<HashMap<String, ureq::Agent>> = Arc::new(
        config
            .webhooks
            .iter()
            .map(|w| {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(w.timeout))
                    .user_agent(concat!("atalaya-collector/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .into();
                (w.name.clone(), agent)
            })
            .collect(),
    );
    loop {
        if *stopped.borrow() {
            break;
        }
        let wait = match round(&store, &config, &agents).await {
            Ok(Some(next)) => {
                let ms = next.0.saturating_sub(Timestamp::now().0).max(0);
                Duration::from_millis(u64::try_from(ms).unwrap_or(0)).min(POLL)
            }
            Ok(None) => POLL,
            Err(e) => {
                tracing::warn!(error = %e, "webhook outbox round failed; retrying");
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
    agents: &Arc<HashMap<String, ureq::Agent>>,
) -> Result<Option<Timestamp>, RoundError> {
    let (s, c) = (store.clone(), config.clone());
    let (due, next) = blocking(move || due(&s, &c, Timestamp::now())).await??;
    if due.is_empty() {
        return Ok(next);
    }
    let mut set = tokio::task::JoinSet::new();
    for a in due {
        let agent = agents.get(&a.webhook).cloned();
        set.spawn_blocking(move || {
            let outcome = match agent {
                Some(agent) => post(&agent, &a),
                None => Err(DeliveryError::NoClient),
            };
            (a, outcome)
        });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(r) => results.push(r),
            Err(e) => tracing::error!(error = %e, "a webhook delivery task failed"),
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

fn post(agent: &ureq::Agent, a: &Attempt) -> Outcome {
    let resp = agent
        .post(&a.url)
        .header("Content-Type", "application/json")
        .header("X-Atalaya-Event-Id", &a.event_id)
        .send(a.body.as_str());
    match resp {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(DeliveryError::Status(r.status())),
        Err(e) => Err(DeliveryError::Transport(e)),
    }
}

/// The deliveries due at `now`, and when the earliest not yet due is.
/// Events that no webhook wants (any more) are moved to the sent ids.
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
        let routes: Vec<_> = config.routes(&rec.event).cloned().collect();
        for w in routes {
            if rec.delivered_to(&w.name) {
                continue;
            }
            waiting = true;
            let d = rec.delivery(&w.name);
            if d.next_at <= now {
                if out.len() < MAX_PER_ROUND {
                    out.push(Attempt {
                        event_id: rec.event.id.clone(),
                        webhook: w.name.clone(),
                        url: w.url.clone(),
                        body: body.clone(),
                    });
                } else {
                    next = Some(now);
                }
            } else {
                next = Some(next.map_or(d.next_at, |n| n.min(d.next_at)));
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
            let d = rec.delivery(&a.webhook);
            match outcome {
                Ok(()) => {
                    d.delivered_at = Some(now);
                    d.last_error = None;
                    tracing::info!(event = %id, webhook = %a.webhook, "webhook delivered");
                }
                Err(e) => {
                    d.failures = d.failures.saturating_add(1);
                    let wait = backoff(&config.retry, d.failures, jitter);
                    let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                    d.next_at = Timestamp(now.0.saturating_add(wait_ms));
                    d.last_error = Some(e.to_string().chars().take(MAX_ERROR_CHARS).collect());
                    tracing::warn!(
                        event = %id, webhook = %a.webhook, failures = d.failures,
                        retry_in_ms = wait_ms, error = %e, "webhook delivery failed"
                    );
                }
            }
        }
        config.routes(&rec.event).all(|w| rec.delivered_to(&w.name))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::notify::route::{Retry, Webhook};
    use crate::records::outbox::{Event, EventKind, IncidentInfo};

    fn hook(name: &str) -> Webhook {
        Webhook {
            name: name.into(),
            url: format!("http://{name}.invalid/"),
            severities: vec![],
            rules: vec![],
            events: vec![],
            timeout: Duration::from_secs(1),
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
        };
        let info = IncidentInfo {
            id: 7,
            ..IncidentInfo::default()
        };
        let ev = Event::new(EventKind::Opened, 1, info, Timestamp(0));
        s.enqueue(&ev, Timestamp(1_000)).unwrap();
        let (due1, next) = due(&s, &config, Timestamp(1_000)).unwrap();
        assert_eq!(due1.len(), 2);
        let body: serde_json::Value = serde_json::from_str(&due1[0].body).unwrap();
        assert_eq!(
            body["incident"]["url"], "https://desk.example/incidents/7",
            "the link is made from [notify] incident_url"
        );
        assert_eq!(next, None);
        let results: Vec<(Attempt, Outcome)> = due1
            .into_iter()
            .map(|a| {
                let o = if a.webhook == "a" {
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
            due3.iter().map(|a| a.webhook.as_str()).collect::<Vec<_>>(),
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
        only_critical.severities = vec![crate::incidents::Severity::Critical];
        let config = NotifyConfig {
            webhooks: vec![only_critical],
            retry: Retry::default(),
            incident_url: None,
        };
        let ev = Event::new(EventKind::Opened, 1, IncidentInfo::default(), Timestamp(0));
        s.enqueue(&ev, Timestamp(0)).unwrap();
        let (due, next) = due(&s, &config, Timestamp(0)).unwrap();
        assert!(due.is_empty() && next.is_none());
        assert!(s.outbox().unwrap().is_empty());
        assert!(s.sent_at(&ev.id).unwrap().is_some());
    }
}
