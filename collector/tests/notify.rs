//! Webhooks delivered to a real HTTP receiver on loopback: retried after
//! errors until a 2xx, recorded once, and neither lost nor repeated across
//! a restart of the worker and the store.
//!
//! Deliveries run in real time (the worker's retry times follow the wall
//! clock). To show that nothing more is sent, a test then pauses tokio's
//! clock and lets a few of the worker's polls pass in virtual time: the
//! clock moves only while every task waits and no blocking task (a store
//! read or a POST) runs, so each virtual poll is a round the worker
//! finished, the receiver's log included. Hence the current-thread
//! runtime: it is the one whose clock can be paused.
#![allow(clippy::unwrap_used)]

#[path = "support/outbox.rs"]
mod outbox;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atalaya_collector::notify::{NotifyConfig, Retry, Webhook};
use atalaya_collector::store::Store;
use atalaya_collector::webhooks::{Notifier, POLL};
use atalaya_common::model::Timestamp;
use outbox::{event, sent, until};
use serde_json::Value;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    event_id: String,
    content_type: String,
    body: Value,
    answered: u16,
}

/// A minimal HTTP/1.1 server: answers each POST with the next status of
/// its script (200 once the script is empty) and keeps what it got.
#[derive(Clone)]
struct Receiver {
    url: String,
    script: Arc<Mutex<VecDeque<u16>>>,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(script: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let r = Receiver {
            url,
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            got: Arc::default(),
        };
        let me = r.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = me.serve(&mut conn);
            }
        });
        r
    }

    fn serve(&self, conn: &mut std::net::TcpStream) -> std::io::Result<()> {
        let mut reader = BufReader::new(conn.try_clone()?);
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            headers.push(line.trim_end().to_owned());
        }
        let header = |name: &str| {
            headers
                .iter()
                .find_map(|h| {
                    let (k, v) = h.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let len: usize = header("content-length").parse().unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let status = self.script.lock().unwrap().pop_front().unwrap_or(200);
        self.got.lock().unwrap().push(Received {
            event_id: header("x-atalaya-event-id"),
            content_type: header("content-type"),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            answered: status,
        });
        write!(
            conn,
            "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        conn.flush()
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn count(&self, id: &str) -> usize {
        self.got().iter().filter(|r| r.event_id == id).count()
    }
}

fn config(url: &str) -> NotifyConfig {
    NotifyConfig {
        webhooks: vec![Webhook {
            timeout: Duration::from_secs(5),
            ..Webhook::new("test", url)
        }],
        retry: Retry {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
        },
        ..NotifyConfig::default()
    }
}

#[tokio::test]
async fn an_event_is_retried_after_two_500s_and_recorded_delivered_once() {
    let rx = Receiver::start(&[500, 500]);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(&dir.path().join("s.redb")).unwrap());
    let worker = Notifier::start(store.clone(), config(&rx.url));
    let ev = event(1);
    assert!(store.enqueue(&ev, Timestamp::now()).unwrap());
    worker.wake();
    until("delivery", || sent(&store, &ev.id)).await;

    let got = rx.got();
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [500, 500, 200]
    );
    for r in &got {
        assert_eq!(r.event_id, "incident-1-opened-1");
        assert_eq!(r.content_type, "application/json");
        assert_eq!(r.body["id"], "incident-1-opened-1");
        assert_eq!(r.body["kind"], "opened");
        assert_eq!(r.body["incident"]["hostname"], "web-01");
        assert_eq!(r.body["incident"]["severity"], "high");
    }
    assert!(store.outbox().unwrap().is_empty());
    // Enqueued again (an engine replay): nothing more is sent, neither in
    // the round the wake starts nor in the polls after it.
    assert!(!store.enqueue(&ev, Timestamp::now()).unwrap());
    tokio::time::pause();
    worker.wake();
    tokio::time::sleep(POLL * 3).await;
    assert_eq!(rx.got().len(), 3);
    worker.stop().await;
}

#[tokio::test]
async fn a_restart_resends_nothing_delivered_and_delivers_the_rest() {
    let rx = Receiver::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let (delivered, failing, queued) = (event(1), event(2), event(3));
    {
        let store = Arc::new(Store::open(&path).unwrap());
        let worker = Notifier::start(store.clone(), config(&rx.url));
        store.enqueue(&delivered, Timestamp::now()).unwrap();
        worker.wake();
        until("the first delivery", || sent(&store, &delivered.id)).await;

        // The receiver breaks: the next event fails, and is still failing at the stop.
        rx.script.lock().unwrap().extend([503; 10_000]);
        store.enqueue(&failing, Timestamp::now()).unwrap();
        worker.wake();
        until("a failed attempt", || {
            store
                .outbox()
                .unwrap()
                .iter()
                .any(|r| r.deliveries.iter().any(|d| d.failures >= 1))
        })
        .await;
        worker.stop().await;
        // Enqueued while no worker runs.
        store.enqueue(&queued, Timestamp::now()).unwrap();
        drop(store);
    }
    rx.script.lock().unwrap().clear();
    let before = rx.got().len();

    let store = Arc::new(Store::open(&path).unwrap());
    assert_eq!(store.outbox().unwrap().len(), 2, "the outbox survived");
    let worker = Notifier::start(store.clone(), config(&rx.url));
    until("delivery after the restart", || {
        sent(&store, &failing.id) && sent(&store, &queued.id)
    })
    .await;
    // A few more rounds, in virtual time, for a repeat to show up: none may.
    tokio::time::pause();
    tokio::time::sleep(POLL * 3).await;
    worker.stop().await;

    assert_eq!(rx.count(&delivered.id), 1, "delivered before: never again");
    assert_eq!(rx.count(&queued.id), 1);
    let after: Vec<Received> = rx.got().into_iter().skip(before).collect();
    assert_eq!(
        after
            .iter()
            .map(|r| (r.event_id.as_str(), r.answered))
            .collect::<Vec<_>>()
            .len(),
        2,
        "{after:?}"
    );
    assert!(after.iter().all(|r| r.answered == 200));
    assert!(store.outbox().unwrap().is_empty());
}
