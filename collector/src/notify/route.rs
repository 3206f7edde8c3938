//! Webhook settings, which webhooks an event goes to, and how long to wait
//! before trying again. Pure, so tested without a network.

use std::time::Duration;

use atalaya_common::config::{Document, Section};

use super::{Event, EventKind};
use crate::helpers::pattern::glob;
use crate::incidents::Severity;

/// One webhook (`[webhook.NAME]` in the collector's configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its name (the table's key), shown in logs.
    pub name: String,
    /// Where events are POSTed; `http://` only (this build has no TLS client).
    pub url: String,
    /// Only these severities (empty: all).
    pub severities: Vec<Severity>,
    /// Only incidents of rules matching one of these names or `*` globs (empty: all).
    pub rules: Vec<String>,
    /// Only these kinds of event (empty: all).
    pub events: Vec<EventKind>,
    /// Time one attempt may take, connection included.
    pub timeout: Duration,
}

impl Webhook {
    /// Whether this webhook wants the event.
    pub fn wants(&self, ev: &Event) -> bool {
        (self.severities.is_empty() || self.severities.contains(&ev.incident.severity))
            && (self.events.is_empty() || self.events.contains(&ev.kind))
            && (self.rules.is_empty() || self.rules.iter().any(|r| glob(r, &ev.incident.rule)))
    }
}

/// How the delivery worker retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Wait after the first failure; doubled after each further one.
    pub initial: Duration,
    /// Longest wait between two attempts.
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(600),
        }
    }
}

/// Every setting of notifications.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyConfig {
    /// The webhooks, in file order.
    pub webhooks: Vec<Webhook>,
    /// Backoff.
    pub retry: Retry,
    /// Link to an incident for people, with `{id}` for its number (the
    /// events' `url`); `None`: events carry no link.
    pub incident_url: Option<String>,
}

impl NotifyConfig {
    /// The webhooks that want `ev`.
    pub fn routes<'a>(&'a self, ev: &'a Event) -> impl Iterator<Item = &'a Webhook> + 'a {
        self.webhooks.iter().filter(move |w| w.wants(ev))
    }
}

/// The wait before attempt `failures + 1`, after `failures` failed ones
/// (1 or more): `initial · 2^(failures-1)`, capped at `max`, then spread by
/// up to ±20 % with `jitter` (a number in 0..1) so that many events failing
/// together do not all retry in the same instant.
pub fn backoff(retry: &Retry, failures: u32, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(30);
    let base = retry
        .initial
        .saturating_mul(1u32 << exp)
        .min(retry.max)
        .as_secs_f64();
    let spread = 0.8 + 0.4 * jitter.clamp(0.0, 1.0);
    Duration::from_secs_f64(base * spread)
}

/// Reads `[notify]` and every `[webhook.NAME]` table; errors are recorded
/// in the document (file, line, key), so all of them are reported at once.
pub fn parse(doc: &Document<'_>) -> NotifyConfig {
    let n = doc.section("notify");
    let initial = n.integer("retry_initial_seconds", 2, 1..=3600, "seconds");
    let max = n.integer("retry_max_seconds", 600, 1..=86_400, "seconds");
    if max < initial {
        n.invalid(
            "retry_max_seconds",
            format!("expected at least retry_initial_seconds ({initial}), found {max}"),
        );
    }
    let incident_url = n.string("incident_url").filter(|u| !u.is_empty());
    if let Some(u) = &incident_url
        && !u.contains("{id}")
    {
        n.invalid(
            "incident_url",
            format!("expected a URL with {{id}} where the incident number goes, found {u:?}"),
        );
    }
    let webhooks = doc
        .section("webhook")
        .tables()
        .into_iter()
        .filter_map(|(name, s)| webhook(name, &s))
        .collect();
    NotifyConfig {
        webhooks,
        incident_url,
        retry: Retry {
            initial: Duration::from_secs(initial),
            max: Duration::from_secs(max.max(initial)),
        },
    }
}

/// A severity by its name in rules and the API.
pub fn severity(name: &str) -> Option<Severity> {
    [
        Severity::Info,
        Severity::Warning,
        Severity::High,
        Severity::Critical,
    ]
    .into_iter()
    .find(|s| s.name() == name)
}

fn webhook(name: String, s: &Section<'_, '_>) -> Option<Webhook> {
    let url = s.string("url");
    let timeout = s.integer("timeout_seconds", 10, 1..=300, "seconds");
    let severities: Vec<Severity> = s
        .strings("severities", &[])
        .iter()
        .filter_map(|v| {
            let found = severity(v);
            if found.is_none() {
                s.invalid(
                    "severities",
                    format!("unknown severity {v:?}; expected info, warning, high or critical"),
                );
            }
            found
        })
        .collect();
    let events: Vec<EventKind> = s
        .strings("events", &[])
        .iter()
        .filter_map(|v| {
            let found = EventKind::parse(v);
            if found.is_none() {
                s.invalid(
                    "events",
                    format!(
                        "unknown event {v:?}; expected one of {}",
                        EventKind::NAMES.join(", ")
                    ),
                );
            }
            found
        })
        .collect();
    let rules = s.strings("rules", &[]);
    let url = match url {
        None => {
            s.missing(
                "url",
                "a webhook needs `url`, e.g. \"http://hooks.example:8080/atalaya\"",
            );
            return None;
        }
        Some(u) if u.starts_with("https://") => {
            s.invalid(
                "url",
                "https webhooks are not supported by this build (its HTTP client has no TLS); \
                 use http:// to a local relay or receiver",
            );
            return None;
        }
        Some(u) if !u.starts_with("http://") || u.len() <= "http://".len() => {
            s.invalid("url", format!("expected an http:// URL, found {u:?}"));
            return None;
        }
        Some(u) => u,
    };
    Some(Webhook {
        name,
        url,
        severities,
        rules,
        events,
        timeout: Duration::from_secs(timeout),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use atalaya_common::model::Timestamp;

    use super::*;
    use crate::notify::IncidentInfo;

    fn event(kind: EventKind, rule: &str, severity: Severity) -> Event {
        Event {
            id: "e".into(),
            kind,
            at: Timestamp(0),
            incident: IncidentInfo {
                rule: rule.into(),
                severity,
                ..IncidentInfo::default()
            },
        }
    }

    fn parsed(text: &str) -> NotifyConfig {
        let doc = Document::parse("c.toml", text).unwrap();
        let c = parse(&doc);
        doc.finish().unwrap();
        c
    }

    #[test]
    fn routing_by_severity_rule_and_event() {
        let c = parsed(
            r#"
[webhook.oncall]
url = "http://pager:9000/hook"
severities = ["critical", "high"]

[webhook.disks]
url = "http://disks:9000/"
rules = ["filesystem-*"]
events = ["opened", "resolved"]

[webhook.all]
url = "http://all:9000/"
"#,
        );
        let names = |ev: &Event| c.routes(ev).map(|w| w.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&event(EventKind::Opened, "filesystem-full", Severity::High)),
            ["oncall", "disks", "all"]
        );
        assert_eq!(
            names(&event(
                EventKind::Updated,
                "filesystem-full",
                Severity::Warning
            )),
            ["all"]
        );
        assert_eq!(
            names(&event(
                EventKind::Resolved,
                "agent-offline",
                Severity::Critical
            )),
            ["oncall", "all"]
        );
        assert_eq!(c.webhooks[0].timeout, Duration::from_secs(10));
        assert_eq!(c.retry, Retry::default());
    }

    #[test]
    fn every_config_error_is_named() {
        let doc = Document::parse(
            "c.toml",
            r#"
[notify]
retry_initial_seconds = 10
retry_max_seconds = 5

[webhook.a]
severities = ["urgent"]

[webhook.b]
url = "https://secure.example/"
events = ["exploded"]
colour = "red"

[webhook.c]
url = "ftp://x"
"#,
        )
        .unwrap();
        let c = parse(&doc);
        assert!(c.webhooks.is_empty());
        let err = doc.finish().unwrap_err().to_string();
        for needle in [
            "notify.retry_max_seconds",
            "webhook.a.severities",
            "urgent",
            "a webhook needs `url`",
            "webhook.b.url",
            "https",
            "webhook.b.events",
            "exploded",
            "webhook.b.colour",
            "webhook.c.url",
        ] {
            assert!(err.contains(needle), "{needle} missing from:\n{err}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let r = Retry {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(60),
        };
        assert_eq!(backoff(&r, 1, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(&r, 2, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(&r, 3, 0.5), Duration::from_secs(8));
        assert_eq!(backoff(&r, 10, 0.5), Duration::from_secs(60));
        assert_eq!(backoff(&r, u32::MAX, 0.5), Duration::from_secs(60));
        assert_eq!(backoff(&r, 1, 0.0), Duration::from_secs_f64(1.6));
        assert_eq!(backoff(&r, 1, 1.0), Duration::from_secs_f64(2.4));
        assert_eq!(backoff(&r, 1, 7.0), Duration::from_secs_f64(2.4), "clamped");
    }
}
