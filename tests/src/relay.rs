//! A UDP relay between agents and the collector that a test can cut.
//!
//! Agents send to the relay's address; the relay forwards each client's
//! datagrams to the collector from a socket of its own and the answers
//! back. While cut, it drops everything in both directions, as a network
//! partition would: nothing is refused or closed, packets simply vanish.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

/// A running relay; it stops when dropped.
#[derive(Debug)]
pub struct Relay {
    /// Where agents should send.
    pub addr: SocketAddr,
    state: Arc<State>,
}

#[derive(Debug, Default)]
struct State {
    cut: AtomicBool,
    stop: AtomicBool,
    dropped: AtomicU64,
}

const POLL: Duration = Duration::from_millis(50);

impl Relay {
    /// Starts relaying to `upstream`.
    pub fn start(upstream: SocketAddr) -> Relay {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
        front.set_read_timeout(Some(POLL)).unwrap();
        let addr = front.local_addr().unwrap();
        let state = Arc::new(State::default());
        let st = state.clone();
        thread::spawn(move || {
            let mut clients: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            while !st.stop.load(Ordering::Acquire) {
                let Ok((n, client)) = front.recv_from(&mut buf) else {
                    continue;
                };
                if st.cut.load(Ordering::Acquire) {
                    st.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let back = clients.entry(client).or_insert_with(|| {
                    let back = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
                    back.connect(upstream).unwrap();
                    back.set_read_timeout(Some(POLL)).unwrap();
                    let (back2, front2, st2) = (back.clone(), front.clone(), st.clone());
                    thread::spawn(move || answers(&back2, &front2, client, &st2));
                    back
                });
                let _ = back.send(&buf[..n]);
            }
        });
        Relay { addr, state }
    }

    /// Cuts the link: every datagram is dropped from now on.
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::Release);
    }

    /// Restores the link.
    pub fn restore(&self) {
        self.state.cut.store(false, Ordering::Release);
    }

    /// Datagrams dropped while cut.
    pub fn dropped(&self) -> u64 {
        self.state.dropped.load(Ordering::Relaxed)
    }
}

/// Carries the collector's answers back to one client.
fn answers(back: &UdpSocket, front: &UdpSocket, client: SocketAddr, state: &State) {
    let mut buf = vec![0u8; 65536];
    while !state.stop.load(Ordering::Acquire) {
        let Ok(n) = back.recv(&mut buf) else {
            continue;
        };
        if state.cut.load(Ordering::Acquire) {
            state.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let _ = front.send_to(&buf[..n], client);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
    }
}
