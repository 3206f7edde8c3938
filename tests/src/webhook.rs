//! A webhook receiver for tests: a minimal HTTP/1.1 server on loopback
//! that answers every request 200 and keeps each body with its
//! `X-Atalaya-Event-Id` header and the wall-clock time it arrived. Written by hand because a test needs only
//! these few lines of HTTP, not a server framework.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use atalaya_common::model::Timestamp;
use serde_json::Value;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The `X-Atalaya-Event-Id` header.
    pub event_id: String,
    /// The JSON body (`Null` if it did not parse).
    pub body: Value,
    /// Wall clock when the whole body had been read, before the answer.
    pub received_at: Timestamp,
}

/// The running receiver; its thread lives as long as the test process.
#[derive(Debug, Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    got: Arc<Mutex<Vec<Received>>>,
    /// Signalled after each request is kept.
    arrived: Arc<Condvar>,
}

impl Receiver {
    /// Listens on a free loopback port.
    pub fn start() -> std::io::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let r = Receiver {
            url,
            got: Arc::default(),
            arrived: Arc::default(),
        };
        let me = r.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = me.serve(&mut conn);
            }
        });
        Ok(r)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Received>> {
        self.got.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn serve(&self, conn: &mut TcpStream) -> std::io::Result<()> {
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
        let received_at = Timestamp::now();
        self.lock().push(Received {
            event_id: header("x-atalaya-event-id"),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            received_at,
        });
        self.arrived.notify_all();
        write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )?;
        conn.flush()
    }

    /// Everything received so far, in order.
    pub fn got(&self) -> Vec<Received> {
        self.lock().clone()
    }

    /// The first request received that `wanted` accepts.
    pub fn find(&self, wanted: impl Fn(&Received) -> bool) -> Option<Received> {
        self.lock().iter().find(|r| wanted(r)).cloned()
    }

    /// Waits up to `limit` for a request that `wanted` accepts (the newest
    /// such), woken by each arrival rather than polling.
    pub fn wait_for(
        &self,
        limit: Duration,
        wanted: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        let give_up = Instant::now() + limit;
        let mut got = self.lock();
        loop {
            if let Some(r) = got.iter().rev().find(|r| wanted(r)) {
                return Some(r.clone());
            }
            let left = give_up.checked_duration_since(Instant::now())?;
            got = self
                .arrived
                .wait_timeout(got, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Requests of this kind (`opened`, `resolved`…) about incident `id`.
    pub fn events(&self, kind: &str, incident: u64) -> Vec<Received> {
        self.got()
            .into_iter()
            .filter(|r| r.body["kind"] == kind && r.body["incident"]["id"] == incident)
            .collect()
    }
}
