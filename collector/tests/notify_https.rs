//! Webhooks over HTTPS to a real TLS receiver on loopback, whose
//! certificate a CA made by the test signed: delivered when the webhook's
//! `ca_file` names that CA, refused with the TLS error recorded as the
//! delivery's last error when it does not (the system's CAs do not know
//! it). A CA file that cannot be used is a configuration error naming the
//! webhook and the file.
#![allow(clippy::unwrap_used)]

#[path = "support/outbox.rs"]
mod outbox;

#[path = "support/test_ca.rs"]
mod test_ca;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atalaya_collector::config::CollectorConfig;
use atalaya_collector::notify::{CaFile, NotifyConfig, Retry, Webhook};
use atalaya_collector::pki::read_ca_certificates;
use atalaya_collector::store::Store;
use atalaya_collector::webhooks::{Notifier, POLL};
use atalaya_common::model::Timestamp;
use outbox::{event, until};
use test_ca::TestCa;

/// An HTTPS/1.1 server answering every POST 200, keeping the event ids it got.
#[derive(Clone)]
struct TlsReceiver {
    url: String,
    got: Arc<Mutex<Vec<String>>>,
}

impl TlsReceiver {
    fn start(tls: Arc<rustls::ServerConfig>) -> TlsReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}/hook", listener.local_addr().unwrap());
        let r = TlsReceiver {
            url,
            got: Arc::default(),
        };
        let me = r.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(tcp) = conn else { continue };
                let Ok(server) = rustls::ServerConnection::new(tls.clone()) else {
                    continue;
                };
                // A refused handshake ends this connection only.
                let _ = me.serve(rustls::StreamOwned::new(server, tcp));
            }
        });
        r
    }

    fn serve(
        &self,
        mut conn: rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>,
    ) -> std::io::Result<()> {
        let mut reader = BufReader::new(&mut conn);
        let mut event_id = String::new();
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("x-atalaya-event-id") {
                    event_id = v.trim().to_owned();
                } else if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        self.got.lock().unwrap().push(event_id);
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        conn.flush()
    }

    fn got(&self) -> Vec<String> {
        self.got.lock().unwrap().clone()
    }
}

fn config(url: &str, ca: Option<CaFile>) -> NotifyConfig {
    NotifyConfig {
        webhooks: vec![Webhook {
            timeout: Duration::from_secs(5),
            ca,
            ..Webhook::new("secure", url)
        }],
        retry: Retry {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
        },
        ..NotifyConfig::default()
    }
}

#[tokio::test]
async fn an_https_webhook_is_delivered_once_when_its_ca_file_names_the_servers_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let rx = TlsReceiver::start(ca.server_config());
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let ca_file = CaFile {
        path: ca.ca_file.clone(),
        certificates: read_ca_certificates(&ca.ca_file).unwrap(),
    };
    let worker = Notifier::start(store.clone(), config(&rx.url, Some(ca_file)));
    let ev = event(1);
    store.enqueue(&ev, Timestamp::now()).unwrap();
    worker.wake();
    until("delivery", || store.sent_at(&ev.id).unwrap().is_some()).await;
    tokio::time::pause();
    tokio::time::sleep(POLL * 3).await;
    worker.stop().await;
    assert_eq!(rx.got(), ["incident-1-opened-1"]);
}

#[tokio::test]
async fn without_its_ca_the_tls_refusal_is_recorded_as_the_deliverys_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let rx = TlsReceiver::start(ca.server_config());
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    // No ca_file: the system's CAs, which never signed the test's server.
    let worker = Notifier::start(store.clone(), config(&rx.url, None));
    let ev = event(2);
    store.enqueue(&ev, Timestamp::now()).unwrap();
    worker.wake();
    let error = || {
        store.outbox().unwrap()[0]
            .deliveries
            .first()
            .and_then(|d| (d.failures >= 2).then(|| d.last_error.clone()))
            .flatten()
    };
    until("two failed attempts", || error().is_some()).await;
    worker.stop().await;
    let error = error().unwrap();
    assert!(
        error.starts_with("TLS handshake failed: invalid peer certificate: UnknownIssuer"),
        "{error}"
    );
    assert!(
        error.contains("ca_file"),
        "the error says what to do: {error}"
    );
    assert!(rx.got().is_empty(), "nothing was POSTed");
    assert!(store.sent_at(&ev.id).unwrap().is_none());
}

#[test]
fn a_ca_file_that_cannot_be_used_is_a_config_error_naming_the_webhook_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not-a-ca.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let text = format!(
        "[webhook.pager]\nurl = \"https://pager.example/hook\"\nca_file = {:?}\n\n\
         [webhook.chat]\nurl = \"https://chat.example/hook\"\nca_file = {:?}\n",
        not_pem.display().to_string(),
        missing.display().to_string(),
    );
    let err = CollectorConfig::parse("collector.toml", &text)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "collector.toml:3:11: `webhook.pager.ca_file`: {} in webhook.pager: holds no PEM certificate",
            not_pem.display()
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "collector.toml:7:11: `webhook.chat.ca_file`: {} in webhook.chat: cannot be read",
            missing.display()
        )),
        "{err}"
    );
    // The same file with the CA in it reads.
    let ca = TestCa::new(dir.path());
    let text = format!(
        "[webhook.pager]\nurl = \"https://pager.example/hook\"\nca_file = {:?}\n",
        ca.ca_file.display().to_string()
    );
    let config = CollectorConfig::parse("collector.toml", &text).unwrap();
    assert_eq!(
        config.notify.webhooks[0]
            .ca
            .as_ref()
            .unwrap()
            .certificates
            .len(),
        1
    );
}
