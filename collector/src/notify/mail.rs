//! The e-mail of an incident event: the same facts the webhook body
//! carries ([`Event`]), as a subject line and a plain-text body people read.
//! Pure: the worker sends what [`message`] builds.
//!
//! The `Message-ID` is made from the event id (`<EVENT-ID@DOMAIN>`, the
//! domain of the sender), so a message sent again after a lost answer
//! carries the same id and mail clients and archives can recognise it.

use std::time::SystemTime;

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;

use super::Event;

/// The subject: the incident's title after its priority and what happened,
/// e.g. `[P2 opened] filesystem-full on web-01 (/var)`.
pub fn subject(ev: &Event) -> String {
    let kind = ev.kind.name();
    match &ev.incident.priority {
        Some(p) => format!("[{p} {kind}] {}", ev.incident.title),
        None => format!("[{kind}] {}", ev.incident.title),
    }
}

/// The plain-text body: what, where, when, the description and the link
/// to the incident when the event carries one.
pub fn body(ev: &Event) -> String {
    let i = &ev.incident;
    let mut what = i.rule.clone();
    if !i.subject.is_empty() {
        what.push_str(&format!(" ({})", i.subject));
    }
    what.push_str(&format!(", severity {}", i.severity.name()));
    if let Some(p) = &i.priority {
        what.push_str(&format!(", priority {p}"));
    }
    let host = if i.hostname.is_empty() {
        i.asset.clone()
    } else {
        format!("{} (asset {})", i.hostname, i.asset)
    };
    let when = ev.at.to_rfc3339().unwrap_or_else(|| ev.at.to_string());
    let times = if i.occurrences == 1 { "time" } else { "times" };
    let mut text = format!(
        "Incident #{id} {kind}: {title}\n\
         \n\
         What:      {what}\n\
         Where:     {host}\n\
         When:      {when}\n\
         Seen:      {n} {times}\n",
        id = i.id,
        kind = ev.kind.name(),
        title = i.title,
        n = i.occurrences,
    );
    if !i.description.is_empty() {
        text.push('\n');
        text.push_str(i.description.trim_end());
        text.push('\n');
    }
    if let Some(url) = &i.url {
        text.push_str(&format!("\nIncident:  {url}\n"));
    }
    text.push_str(&format!("\n-- \nAtalaya, event {}\n", ev.id));
    text
}

/// The `Message-ID` of the event's e-mail from `from`:
/// `<EVENT-ID@DOMAIN-OF-FROM>`.
pub fn message_id(ev: &Event, from: &Mailbox) -> String {
    format!("<{}@{}>", ev.id, from.email.domain())
}

/// The whole message, dated `date`.
pub fn message(
    ev: &Event,
    from: &Mailbox,
    to: &[Mailbox],
    date: SystemTime,
) -> Result<Message, lettre::error::Error> {
    let mut b = Message::builder()
        .from(from.clone())
        .subject(subject(ev))
        .message_id(Some(message_id(ev, from)))
        .date(date)
        .header(ContentType::TEXT_PLAIN);
    for t in to {
        b = b.to(t.clone());
    }
    b.body(body(ev))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use atalaya_common::model::Timestamp;

    use super::*;
    use crate::incidents::Severity;
    use crate::notify::{EventKind, IncidentInfo};

    fn event() -> Event {
        Event::new(
            EventKind::Opened,
            1,
            IncidentInfo {
                id: 7,
                asset: "asset-1".into(),
                hostname: "web-01".into(),
                rule: "filesystem-full".into(),
                subject: "/var".into(),
                severity: Severity::High,
                priority: Some("P2".into()),
                title: "filesystem-full on web-01 (/var)".into(),
                description: "/var is 95 % full".into(),
                occurrences: 1,
                url: Some("https://desk.example/incidents/7".into()),
            },
            Timestamp::from_secs(1_800_000_000),
        )
    }

    #[test]
    fn the_mail_says_what_where_when_and_links_the_incident() {
        let ev = event();
        assert_eq!(subject(&ev), "[P2 opened] filesystem-full on web-01 (/var)");
        assert_eq!(
            body(&ev),
            "Incident #7 opened: filesystem-full on web-01 (/var)\n\
             \n\
             What:      filesystem-full (/var), severity high, priority P2\n\
             Where:     web-01 (asset asset-1)\n\
             When:      2027-01-15T08:00:00Z\n\
             Seen:      1 time\n\
             \n\
             /var is 95 % full\n\
             \n\
             Incident:  https://desk.example/incidents/7\n\
             \n\
             -- \n\
             Atalaya, event incident-7-opened-1\n"
        );
        let from: Mailbox = "Atalaya <atalaya@example.org>".parse().unwrap();
        let to: Vec<Mailbox> = vec!["oncall@example.org".parse().unwrap()];
        let m = message(&ev, &from, &to, SystemTime::UNIX_EPOCH).unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(
            text.contains("Message-ID: <incident-7-opened-1@example.org>\r\n"),
            "{text}"
        );
        assert!(text.contains("To: oncall@example.org\r\n"), "{text}");
        assert!(
            text.contains("Subject: [P2 opened] filesystem-full on web-01 (/var)\r\n"),
            "{text}"
        );
        assert_eq!(
            m.envelope()
                .to()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["oncall@example.org"]
        );
    }

    #[test]
    fn without_priority_or_link_those_lines_are_left_out() {
        let mut ev = event();
        ev.incident.priority = None;
        ev.incident.url = None;
        ev.incident.occurrences = 3;
        assert_eq!(subject(&ev), "[opened] filesystem-full on web-01 (/var)");
        let b = body(&ev);
        assert!(
            b.contains("What:      filesystem-full (/var), severity high\n"),
            "{b}"
        );
        assert!(b.contains("Seen:      3 times\n"), "{b}");
        assert!(!b.contains("Incident: "), "{b}");
    }
}
