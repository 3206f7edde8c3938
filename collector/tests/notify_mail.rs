//! Incident e-mail through a real SMTP server on loopback
//! (`smtp_server.py`, aiosmtpd) that requires STARTTLS with a certificate
//! from a CA the test made, and a login: the message arrives once, with
//! its subject, recipients and a `Message-ID` made from the event id; a
//! server that is down is tried again until it is up (at least once); a
//! wrong password is recorded as the delivery's error.
//!
//! Waiting for nothing more to be sent works as in `notify.rs`: paused
//! tokio time lets a few of the worker's polls pass, each a finished round.
#![allow(clippy::unwrap_used)]

#[path = "support/outbox.rs"]
mod outbox;

#[path = "support/test_ca.rs"]
mod test_ca;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use atalaya_collector::notify::{CaFile, Filter, MailRoute, NotifyConfig, Retry, Security, Smtp};
use atalaya_collector::pki::read_ca_certificates;
use atalaya_collector::store::Store;
use atalaya_collector::webhooks::{Notifier, POLL};
use atalaya_common::config::Secret;
use atalaya_common::model::Timestamp;
use outbox::{event, sent, until};
use test_ca::TestCa;

const USER: &str = "atalaya";
const PASSWORD: &str = "correct horse";

/// The system's Python 3, where Debian's python3-aiosmtpd is installed
/// (`scripts/test.sh` installs it).
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// The SMTP server process; killed when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
}

impl SmtpServer {
    /// Starts the server on `port` (0: a free one) and waits until it listens.
    fn start(ca: &TestCa, port: u16, folder: &Path) -> SmtpServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp_server.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(port.to_string())
            .arg(&ca.cert_file)
            .arg(&ca.key_file)
            .arg(USER)
            .arg(PASSWORD)
            .arg(folder)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the SMTP server did not start: {line:?}"));
        SmtpServer { child, port }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message the server accepted.
#[derive(Debug)]
struct Received {
    text: String,
    rcpt_tos: Vec<String>,
    login: Option<String>,
}

impl Received {
    fn header(&self, name: &str) -> Option<String> {
        let head = self.text.split("\r\n\r\n").next()?;
        head.split("\r\n").find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

fn received(folder: &Path) -> Vec<Received> {
    let mut out = Vec::new();
    for n in 1.. {
        let Ok(text) = std::fs::read_to_string(folder.join(format!("{n}.eml"))) else {
            break;
        };
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(folder.join(format!("{n}.json"))).unwrap(),
        )
        .unwrap();
        out.push(Received {
            text,
            rcpt_tos: meta["rcpt_tos"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect(),
            login: meta["login"].as_str().map(str::to_owned),
        });
    }
    out
}

fn config(ca: &TestCa, port: u16, password: &str) -> NotifyConfig {
    NotifyConfig {
        smtp: Some(Smtp {
            host: "127.0.0.1".into(),
            port,
            security: Security::StartTls,
            login: Some((USER.into(), Secret(password.into()))),
            from: "Atalaya <atalaya@example.org>".parse().unwrap(),
            ca: Some(CaFile {
                path: ca.ca_file.clone(),
                certificates: read_ca_certificates(&ca.ca_file).unwrap(),
            }),
            timeout: Duration::from_secs(5),
        }),
        mail: vec![MailRoute {
            name: "oncall".into(),
            to: vec![
                "oncall@example.org".parse().unwrap(),
                "Duty Manager <duty@example.org>".parse().unwrap(),
            ],
            filter: Filter::default(),
        }],
        retry: Retry {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(300),
        },
        incident_url: Some("https://desk.example/incidents/{id}".into()),
        ..NotifyConfig::default()
    }
}

/// The last error of the mail route's delivery, once it failed `n` times.
fn error_after(store: &Store, n: u32) -> Option<String> {
    let outbox = store.outbox().unwrap();
    let d = outbox
        .first()?
        .deliveries
        .iter()
        .find(|d| d.webhook == "mail:oncall")?;
    (d.failures >= n).then(|| d.last_error.clone()).flatten()
}

fn folder(dir: &Path) -> PathBuf {
    dir.join("received")
}

#[tokio::test]
async fn a_mail_arrives_once_with_its_subject_recipients_and_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let server = SmtpServer::start(&ca, 0, &folder(dir.path()));
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let worker = Notifier::start(store.clone(), config(&ca, server.port, PASSWORD));
    let ev = event(7);
    store.enqueue(&ev, Timestamp::now()).unwrap();
    worker.wake();
    until("delivery", || sent(&store, &ev.id)).await;
    // Enqueued again (a replay), and a few more rounds: nothing more is sent.
    assert!(!store.enqueue(&ev, Timestamp::now()).unwrap());
    tokio::time::pause();
    worker.wake();
    tokio::time::sleep(POLL * 3).await;
    worker.stop().await;

    let got = received(&folder(dir.path()));
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m.login.as_deref(), Some(USER));
    assert_eq!(m.rcpt_tos, ["oncall@example.org", "duty@example.org"]);
    assert_eq!(
        m.header("Subject").as_deref(),
        Some("[P2 opened] filesystem-full on web-01 (/var)")
    );
    assert_eq!(
        m.header("Message-ID").as_deref(),
        Some("<incident-7-opened-1@example.org>")
    );
    assert_eq!(
        m.header("From").as_deref(),
        Some("Atalaya <atalaya@example.org>")
    );
    let to = m.header("To").unwrap();
    assert!(
        to.contains("oncall@example.org") && to.contains("duty@example.org"),
        "{to}"
    );
    assert!(
        m.text.contains("Where:     web-01 (asset asset-1)\r\n"),
        "{}",
        m.text
    );
    assert!(
        m.text
            .contains("Incident:  https://desk.example/incidents/7\r\n"),
        "the link from [notify] incident_url: {}",
        m.text
    );
}

#[tokio::test]
async fn a_mail_server_that_is_down_is_tried_again_until_it_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    // A port nothing listens on, for now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let worker = Notifier::start(store.clone(), config(&ca, port, PASSWORD));
    let ev = event(8);
    store.enqueue(&ev, Timestamp::now()).unwrap();
    worker.wake();
    until("two failed attempts", || error_after(&store, 2).is_some()).await;
    let error = error_after(&store, 2).unwrap();
    assert!(error.starts_with("SMTP: "), "{error}");
    assert!(error.contains("onnection refused"), "{error}");

    let _server = SmtpServer::start(&ca, port, &folder(dir.path()));
    until("delivery once the server is up", || sent(&store, &ev.id)).await;
    tokio::time::pause();
    tokio::time::sleep(POLL * 3).await;
    worker.stop().await;
    let got = received(&folder(dir.path()));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].header("Message-ID").as_deref(),
        Some("<incident-8-opened-1@example.org>")
    );
}

#[tokio::test]
async fn a_wrong_password_is_recorded_as_the_deliverys_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let server = SmtpServer::start(&ca, 0, &folder(dir.path()));
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let worker = Notifier::start(store.clone(), config(&ca, server.port, "wrong"));
    let ev = event(9);
    store.enqueue(&ev, Timestamp::now()).unwrap();
    worker.wake();
    until("a failed attempt", || error_after(&store, 1).is_some()).await;
    worker.stop().await;
    let error = error_after(&store, 1).unwrap();
    assert!(error.starts_with("SMTP: permanent error (535)"), "{error}");
    assert!(received(&folder(dir.path())).is_empty());
    assert!(!sent(&store, &ev.id));
}
