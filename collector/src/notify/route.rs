//! Notification settings (webhooks, e-mail), which targets an event goes
//! to, and how long to wait before trying again. Pure, so tested without a
//! network: the files the settings name (CA certificates, the SMTP
//! password) are read through [`ReadFiles`], which the caller provides.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use atalaya_common::config::{Document, Secret, Section};
use lettre::message::Mailbox;
use rustls_pki_types::CertificateDer;

use super::{Event, EventKind};
use crate::helpers::pattern::glob;
use crate::incidents::Severity;

/// Prefix of the delivery key of a mail route (`mail:NAME`); a webhook's
/// key is its bare name, as in stores written before e-mail existed.
pub const MAIL_PREFIX: &str = "mail:";

/// Which events a target wants; an empty list lets everything through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only these severities (empty: all).
    pub severities: Vec<Severity>,
    /// Only incidents of rules matching one of these names or `*` globs (empty: all).
    pub rules: Vec<String>,
    /// Only these kinds of event (empty: all).
    pub events: Vec<EventKind>,
}

impl Filter {
    /// Whether the event passes.
    pub fn wants(&self, ev: &Event) -> bool {
        (self.severities.is_empty() || self.severities.contains(&ev.incident.severity))
            && (self.events.is_empty() || self.events.contains(&ev.kind))
            && (self.rules.is_empty() || self.rules.iter().any(|r| glob(r, &ev.incident.rule)))
    }
}

/// CA certificates read from a PEM file named in the settings, trusted
/// instead of the system's store.
#[derive(Clone, PartialEq, Eq)]
pub struct CaFile {
    /// The file, as configured.
    pub path: PathBuf,
    /// Its certificates (at least one).
    pub certificates: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// One webhook (`[webhook.NAME]` in the collector's configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Its name (the table's key), shown in logs and its delivery key.
    pub name: String,
    /// Where events are POSTed: an `http://` or `https://` URL.
    pub url: String,
    /// Which events it gets.
    pub filter: Filter,
    /// Time one attempt may take, connection included.
    pub timeout: Duration,
    /// `ca_file`: the CAs an https server's certificate must chain to
    /// (`None`: the system's trusted CAs).
    pub ca: Option<CaFile>,
}

impl Webhook {
    /// A webhook to `url` that gets every event, with a 10 s timeout.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Webhook {
        Webhook {
            name: name.into(),
            url: url.into(),
            filter: Filter::default(),
            timeout: Duration::from_secs(10),
            ca: None,
        }
    }

    /// Whether this webhook wants the event.
    pub fn wants(&self, ev: &Event) -> bool {
        self.filter.wants(ev)
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS, which the server must offer
    /// (submission, port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (a relay on the same host or network).
    None,
}

impl Security {
    /// The port used when `[smtp] port` is not given.
    pub fn default_port(self) -> u16 {
        match self {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        }
    }
}

/// The mail server (`[smtp]`), shared by every mail route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smtp {
    /// Its host name, also the name its certificate must carry.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// STARTTLS, implicit TLS or none.
    pub security: Security,
    /// The account to log in with, and its password (from
    /// `password_file`); `None`: no login.
    pub login: Option<(String, Secret)>,
    /// The sender (`From:` and the envelope).
    pub from: Mailbox,
    /// `ca_file`: the CAs its certificate must chain to (`None`: the
    /// system's trusted CAs).
    pub ca: Option<CaFile>,
    /// Time one attempt may take, per network operation.
    pub timeout: Duration,
}

/// One mail route (`[mail.NAME]`): who gets which events by e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRoute {
    /// Its name (the table's key), shown in logs; its delivery key is `mail:NAME`.
    pub name: String,
    /// The recipients of one message (at least one).
    pub to: Vec<Mailbox>,
    /// Which events it gets.
    pub filter: Filter,
}

/// Somewhere an event is delivered: a webhook or a mail route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// POSTed as JSON.
    Webhook(&'a Webhook),
    /// Sent as one e-mail to the route's recipients.
    Mail(&'a MailRoute),
}

impl Target<'_> {
    /// The name its delivery is recorded under in the outbox: a webhook's
    /// name, or `mail:NAME`.
    pub fn key(&self) -> Cow<'_, str> {
        match self {
            Target::Webhook(w) => Cow::Borrowed(&w.name),
            Target::Mail(m) => Cow::Owned(format!("{MAIL_PREFIX}{}", m.name)),
        }
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
    /// The mail server (`None`: no e-mail; then there are no mail routes).
    pub smtp: Option<Smtp>,
    /// The mail routes, in file order.
    pub mail: Vec<MailRoute>,
    /// Backoff.
    pub retry: Retry,
    /// Link to an incident for people, with `{id}` for its number (the
    /// events' `url`); `None`: events carry no link.
    pub incident_url: Option<String>,
}

impl NotifyConfig {
    /// The webhooks and mail routes that want `ev`, webhooks first.
    pub fn targets<'a, 'e>(
        &'a self,
        ev: &'e Event,
    ) -> impl Iterator<Item = Target<'a>> + use<'a, 'e> {
        let hooks = self
            .webhooks
            .iter()
            .filter(move |w| w.wants(ev))
            .map(Target::Webhook);
        let mail = self
            .mail
            .iter()
            .filter(move |m| m.filter.wants(ev))
            .map(Target::Mail);
        hooks.chain(mail)
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

/// The keys of `[smtp]`.
const SMTP_KEYS: &[&str] = &[
    "host",
    "port",
    "security",
    "username",
    "password_file",
    "from",
    "ca_file",
    "timeout_seconds",
];

/// Reads the files the settings name. The collector reads the disk
/// (`config`); the text of an error says what was wrong with the file,
/// and is reported at the key that names it.
pub trait ReadFiles {
    /// The certificates of a PEM file of CA certificates (at least one).
    fn certificates(&self, path: &Path) -> Result<Vec<CertificateDer<'static>>, String>;
    /// A secret kept in a file of its own (its first line).
    fn secret(&self, path: &Path) -> Result<Secret, String>;
}

/// Reads `[notify]`, every `[webhook.NAME]`, `[smtp]` and every
/// `[mail.NAME]` table; errors are recorded in the document (file, line,
/// key), so all of them are reported at once.
pub fn parse(doc: &Document<'_>, files: &dyn ReadFiles) -> NotifyConfig {
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
    let hooks = doc.section("webhook");
    let webhooks = hooks
        .tables()
        .into_iter()
        .filter_map(|(name, s)| {
            if name.starts_with(MAIL_PREFIX) {
                hooks.invalid(
                    &name,
                    format!("a webhook's name may not start with {MAIL_PREFIX:?} (mail routes are recorded under it)"),
                );
                s.skip_unread();
                return None;
            }
            webhook(name, &s, files)
        })
        .collect();
    let smtp_section = doc.section("smtp");
    let smtp_given = SMTP_KEYS.iter().any(|k| smtp_section.has(k));
    let smtp = smtp_given
        .then(|| smtp_settings(&smtp_section, files))
        .flatten();
    let routes = doc.section("mail");
    let mut mail = Vec::new();
    for (name, s) in routes.tables() {
        let route = mail_route(name.clone(), &s);
        if smtp_given {
            mail.extend(route);
        } else {
            routes.invalid(
                &name,
                "mail routes need the mail server: an [smtp] table with host and from",
            );
        }
    }
    NotifyConfig {
        webhooks,
        smtp,
        mail,
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

/// `severities`, `rules` and `events` of a webhook or mail route.
fn filter(s: &Section<'_, '_>) -> Filter {
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
    Filter {
        severities,
        rules,
        events,
    }
}

/// `ca_file` of a table: its certificates, or the error recorded at the key.
fn ca_file(s: &Section<'_, '_>, files: &dyn ReadFiles) -> Option<CaFile> {
    let path = PathBuf::from(s.string("ca_file").filter(|p| !p.is_empty())?);
    match files.certificates(&path) {
        Ok(certificates) => Some(CaFile { path, certificates }),
        Err(e) => {
            s.invalid(
                "ca_file",
                format!("{} in {}: {e}", path.display(), s.name()),
            );
            None
        }
    }
}

fn webhook(name: String, s: &Section<'_, '_>, files: &dyn ReadFiles) -> Option<Webhook> {
    let url = s.string("url");
    let timeout = s.integer("timeout_seconds", 10, 1..=300, "seconds");
    let filter = filter(s);
    let ca = ca_file(s, files);
    let url = match url {
        None => {
            s.missing(
                "url",
                "a webhook needs `url`, e.g. \"https://hooks.example/atalaya\"",
            );
            return None;
        }
        Some(u) => u,
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    if rest.is_none_or(str::is_empty) {
        s.invalid(
            "url",
            format!("expected an http:// or https:// URL, found {url:?}"),
        );
        return None;
    }
    if s.has("ca_file") && !url.starts_with("https://") {
        s.invalid(
            "ca_file",
            format!("ca_file is used only with https:// URLs, and url is {url:?}"),
        );
    }
    Some(Webhook {
        name,
        url,
        filter,
        timeout: Duration::from_secs(timeout),
        ca,
    })
}

fn mailbox(s: &Section<'_, '_>, key: &str, text: &str) -> Option<Mailbox> {
    match text.parse::<Mailbox>() {
        Ok(m) => Some(m),
        Err(e) => {
            s.invalid(
                key,
                format!(
                    "expected an address such as \"Atalaya <atalaya@example.org>\" or \"oncall@example.org\", found {text:?} ({e})"
                ),
            );
            None
        }
    }
}

/// `[smtp]`.
fn smtp_settings(s: &Section<'_, '_>, files: &dyn ReadFiles) -> Option<Smtp> {
    let host = s.string("host").filter(|h| !h.is_empty());
    let security = match s.choice("security", "starttls", &["starttls", "tls", "none"]) {
        "tls" => Security::Tls,
        "none" => Security::None,
        _ => Security::StartTls,
    };
    let port = s.integer(
        "port",
        u64::from(security.default_port()),
        1..=65_535,
        "port",
    );
    let timeout = s.integer("timeout_seconds", 30, 1..=300, "seconds");
    let username = s.string("username").filter(|u| !u.is_empty());
    let password_file = s
        .string("password_file")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    let from = s.string("from");
    let ca = ca_file(s, files);
    if ca.is_some() && security == Security::None {
        s.invalid(
            "ca_file",
            "ca_file is used only with security = \"starttls\" or \"tls\"",
        );
    }
    let login = match (username, password_file) {
        (None, None) => None,
        (Some(user), Some(path)) => match files.secret(&path) {
            Ok(password) => Some((user, password)),
            Err(e) => {
                s.invalid(
                    "password_file",
                    format!("{} in {}: {e}", path.display(), s.name()),
                );
                None
            }
        },
        (Some(_), None) => {
            s.invalid(
                "username",
                "a login needs password_file too (the file holding the password)",
            );
            None
        }
        (None, Some(_)) => {
            s.invalid("password_file", "a login needs username too");
            None
        }
    };
    let Some(host) = host else {
        s.missing(
            "host",
            "the mail server needs `host`, e.g. \"mail.example.org\"",
        );
        return None;
    };
    let from = match from {
        None => {
            s.missing(
                "from",
                "the mail server needs `from`, e.g. \"Atalaya <atalaya@example.org>\"",
            );
            return None;
        }
        Some(f) => mailbox(s, "from", &f)?,
    };
    Some(Smtp {
        host,
        port: u16::try_from(port).unwrap_or(security.default_port()),
        security,
        login,
        from,
        ca,
        timeout: Duration::from_secs(timeout),
    })
}

/// `[mail.NAME]`.
fn mail_route(name: String, s: &Section<'_, '_>) -> Option<MailRoute> {
    let filter = filter(s);
    let to = s.strings("to", &[]);
    if to.is_empty() {
        s.missing(
            "to",
            "a mail route needs `to`, a list of addresses, e.g. [\"oncall@example.org\"]",
        );
        return None;
    }
    let parsed: Vec<Mailbox> = to.iter().filter_map(|t| mailbox(s, "to", t)).collect();
    if parsed.len() != to.len() {
        return None;
    }
    Some(MailRoute {
        name,
        to: parsed,
        filter,
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

    /// Files by name: `ca.pem` holds one certificate, `password` a
    /// password; anything else is missing.
    struct Files;

    impl ReadFiles for Files {
        fn certificates(&self, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
            match path.to_str() {
                Some("ca.pem") => Ok(vec![CertificateDer::from(vec![1, 2, 3])]),
                _ => Err("cannot be read: No such file or directory".into()),
            }
        }

        fn secret(&self, path: &Path) -> Result<Secret, String> {
            match path.to_str() {
                Some("password") => Ok(Secret("s3cret".into())),
                _ => Err("cannot be read: No such file or directory".into()),
            }
        }
    }

    fn parsed(text: &str) -> NotifyConfig {
        let doc = Document::parse("c.toml", text).unwrap();
        let c = parse(&doc, &Files);
        doc.finish().unwrap();
        c
    }

    fn errors(text: &str) -> String {
        let doc = Document::parse("c.toml", text).unwrap();
        parse(&doc, &Files);
        doc.finish().unwrap_err().to_string()
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
        let names = |ev: &Event| {
            c.targets(ev)
                .map(|t| t.key().into_owned())
                .collect::<Vec<_>>()
        };
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
        let err = errors(
            r#"
[notify]
retry_initial_seconds = 10
retry_max_seconds = 5

[webhook.a]
severities = ["urgent"]

[webhook.b]
url = "http://plain.example/"
ca_file = "ca.pem"
events = ["exploded"]
colour = "red"

[webhook.c]
url = "ftp://x"

[webhook.d]
url = "https://secure.example/"
ca_file = "/etc/atalaya/missing.pem"

[webhook."mail:x"]
url = "http://x/"
"#,
        );
        for needle in [
            "notify.retry_max_seconds",
            "webhook.a.severities",
            "urgent",
            "a webhook needs `url`",
            "`webhook.b.ca_file`: ca_file is used only with https:// URLs",
            "webhook.b.events",
            "exploded",
            "webhook.b.colour",
            "webhook.c.url",
            "c.toml:20:11: `webhook.d.ca_file`: /etc/atalaya/missing.pem in webhook.d: cannot be read",
            "`webhook.mail:x`: a webhook's name may not start with \"mail:\"",
        ] {
            assert!(err.contains(needle), "{needle} missing from:\n{err}");
        }
    }

    #[test]
    fn https_webhooks_and_mail_routes_are_read_with_their_files() {
        let c = parsed(
            r#"
[webhook.pager]
url = "https://pager.example/hook"
ca_file = "ca.pem"

[smtp]
host = "mail.example"
username = "atalaya"
password_file = "password"
from = "Atalaya <atalaya@example.org>"

[mail.oncall]
to = ["oncall@example.org", "Duty Manager <duty@example.org>"]
severities = ["critical"]
"#,
        );
        let ca = c.webhooks[0].ca.as_ref().unwrap();
        assert_eq!(ca.path, Path::new("ca.pem"));
        assert_eq!(ca.certificates.len(), 1);
        let smtp = c.smtp.as_ref().unwrap();
        assert_eq!(smtp.security, Security::StartTls);
        assert_eq!(smtp.port, 587, "the submission port goes with STARTTLS");
        assert_eq!(smtp.timeout, Duration::from_secs(30));
        assert_eq!(
            smtp.login,
            Some(("atalaya".into(), Secret("s3cret".into())))
        );
        assert!(
            !format!("{smtp:?}").contains("s3cret"),
            "the password is redacted"
        );
        assert_eq!(smtp.from.email.to_string(), "atalaya@example.org");
        assert_eq!(c.mail[0].to.len(), 2);
        let critical = event(EventKind::Opened, "x", Severity::Critical);
        let high = event(EventKind::Opened, "x", Severity::High);
        let keys = |ev| {
            c.targets(ev)
                .map(|t| t.key().into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&critical), ["pager", "mail:oncall"]);
        assert_eq!(keys(&high), ["pager"]);
        let tls = parsed("[smtp]\nhost = \"m\"\nsecurity = \"tls\"\nfrom = \"a@b.example\"\n");
        assert_eq!(tls.smtp.unwrap().port, 465);
    }

    #[test]
    fn every_mail_setting_error_is_named_with_its_line() {
        let err = errors(
            r#"
[smtp]
port = 70000
security = "ssl"
username = "atalaya"
password_file = "/etc/atalaya/nope"
from = "not an address"
ca_file = "/etc/atalaya/none.pem"
cc = "x"

[mail.oncall]
severities = ["dire"]

[mail.team]
to = ["team@example.org", "@@"]
"#,
        );
        for needle in [
            "c.toml:2:1: `smtp.host`: the mail server needs `host`",
            "c.toml:3:8: `smtp.port`: expected a whole number of port",
            "c.toml:4:12: `smtp.security`: expected one of",
            "c.toml:6:17: `smtp.password_file`: /etc/atalaya/nope in smtp: cannot be read",
            "c.toml:8:11: `smtp.ca_file`: /etc/atalaya/none.pem in smtp: cannot be read",
            "`smtp.cc`: unknown key",
            "`mail.oncall.to`: a mail route needs `to`",
            "`mail.oncall.severities`: unknown severity \"dire\"",
            "c.toml:15:6: `mail.team.to`: expected an address",
        ] {
            assert!(err.contains(needle), "{needle} missing from:\n{err}");
        }
        let err = errors("[mail.oncall]\nto = [\"a@b.example\"]\n");
        assert!(
            err.contains("`mail.oncall`: mail routes need the mail server"),
            "{err}"
        );
        let err = errors(
            "[smtp]\nhost = \"m\"\nfrom = \"a@b.example\"\nusername = \"u\"\nsecurity = \"none\"\nca_file = \"ca.pem\"\n",
        );
        assert!(
            err.contains("`smtp.username`: a login needs password_file"),
            "{err}"
        );
        assert!(
            err.contains("`smtp.ca_file`: ca_file is used only with"),
            "{err}"
        );
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
