//! The QUIC client: keeps one connection to the collector, sends what the
//! outbox holds, and takes acknowledgements, settings and requests back.
//!
//! One bidirectional stream per connection carries the session: `Hello`,
//! then records in sequence order; the collector answers on the same
//! stream. When the connection breaks, the uplink waits (exponential
//! backoff with full jitter, so a fleet does not reconnect in one wave) and
//! starts again from the last acknowledged sequence.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, bail};
use atalaya_common::proto::{self, FrameReader, Hello, Message};
use tokio::sync::{Notify, watch};

use crate::outbox::Outbox;

/// Settings the collector may change at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    /// Between health samples.
    pub metrics: Duration,
    /// Between full re-inventories.
    pub inventory: Duration,
    /// Between heartbeats.
    pub heartbeat: Duration,
}

/// Records sent but not yet acknowledged, at most. Beyond it the writer
/// waits for acks: what sits in the spool can still be shed if it fills,
/// what was sent cannot (it may have arrived).
pub const IN_FLIGHT: u64 = 256;

/// What the uplink and the producers of records share.
#[derive(Debug)]
pub struct Shared {
    outbox: Mutex<Outbox>,
    wake: Notify,
    snapshot_wanted: AtomicBool,
    connected: AtomicBool,
    intervals: watch::Sender<Intervals>,
}

impl Shared {
    /// Shared state around an outbox, with the configured intervals.
    pub fn new(outbox: Outbox, intervals: Intervals) -> Arc<Self> {
        Arc::new(Self {
            outbox: Mutex::new(outbox),
            wake: Notify::new(),
            snapshot_wanted: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            intervals: watch::Sender::new(intervals),
        })
    }

    /// The outbox, locked. A poisoned lock only means another task
    /// panicked while holding it; the queue itself stays consistent.
    pub fn outbox(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a record and wakes the sender.
    pub fn send(&self, build: impl FnOnce(u64) -> Message) -> anyhow::Result<u64> {
        let seq = self.outbox().push(build).context("encoding a record")?;
        self.wake.notify_one();
        Ok(seq)
    }

    /// True once after the collector asked for a full inventory.
    pub fn take_snapshot_request(&self) -> bool {
        self.snapshot_wanted.swap(false, Ordering::AcqRel)
    }

    /// Whether the collector asked for a full inventory not yet taken.
    pub fn snapshot_pending(&self) -> bool {
        self.snapshot_wanted.load(Ordering::Acquire)
    }

    /// Whether a session is up now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Follows the intervals the collector sets.
    pub fn intervals(&self) -> watch::Receiver<Intervals> {
        self.intervals.subscribe()
    }
}

/// Exponential backoff with full jitter: the n-th wait is uniform in
/// `[0, min(cap, base · 2^n)]`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, never above `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next wait, drawn with `unit` in `[0, 1)`.
    pub fn next_with(&mut self, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The next wait, randomly drawn.
    pub fn next_delay(&mut self) -> Duration {
        self.next_with(rand::random::<f64>())
    }

    /// After a session that worked, start small again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Target {
    /// Collector address.
    pub address: SocketAddr,
    /// Name the collector's certificate must carry.
    pub server_name: String,
    /// TLS and transport settings (mutual TLS with the agent's certificate).
    pub client_config: quinn::ClientConfig,
}

/// Keeps a session with the collector up for ever.
pub async fn run(endpoint: quinn::Endpoint, target: Target, shared: Arc<Shared>) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
    loop {
        let result = session(&endpoint, &target, &shared).await;
        // A session that got as far as Hello worked: the collector was
        // there, so the next attempt starts small again.
        if shared.connected.swap(false, Ordering::AcqRel) {
            backoff.reset();
        }
        if let Err(err) = result {
            tracing::warn!(collector = %target.address, error = %format!("{err:#}"), "connection to the collector lost");
        }
        let wait = backoff.next_delay();
        tracing::info!(seconds = wait.as_secs_f64(), "reconnecting after a pause");
        tokio::time::sleep(wait).await;
    }
}

async fn session(
    endpoint: &quinn::Endpoint,
    target: &Target,
    shared: &Shared,
) -> anyhow::Result<()> {
    let connection = endpoint
        .connect_with(
            target.client_config.clone(),
            target.address,
            &target.server_name,
        )?
        .await
        .with_context(|| format!("connecting to {}", target.address))?;
    let (mut send, mut recv) = connection
        .open_bi()
        .await
        .context("opening the session stream")?;
    let acked = shared.outbox().acked();
    let hello = Hello {
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        protocol_version: proto::PROTOCOL_VERSION,
        last_acked: acked,
    };
    send.write_all(&proto::encode(&hello.into())?).await?;
    shared.connected.store(true, Ordering::Release);
    tracing::info!(collector = %target.address, resend_from = acked + 1, "connected");

    let reader = async {
        let mut frames = FrameReader::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let Some(n) = recv.read(&mut buf).await? else {
                bail!("the collector closed the session");
            };
            frames.push(&buf[..n]);
            while let Some(message) = frames.next_message()? {
                match message {
                    Message::Ack(ack) => {
                        shared.outbox().ack(ack.seq);
                        // Room in the window: the writer may go on.
                        shared.wake.notify_one();
                    }
                    Message::SnapshotRequest(req) => {
                        tracing::info!(reason = %req.reason, "the collector asks for a full inventory");
                        shared.snapshot_wanted.store(true, Ordering::Release);
                    }
                    Message::ConfigUpdate(c) => {
                        let secs = |s: u32| Duration::from_secs(u64::from(s.max(1)));
                        shared.intervals.send_replace(Intervals {
                            metrics: secs(c.metrics_interval_seconds),
                            inventory: secs(c.inventory_interval_seconds),
                            heartbeat: secs(c.heartbeat_interval_seconds),
                        });
                    }
                    Message::Refused(r) => bail!("the collector refused this agent: {}", r.reason),
                    other => {
                        tracing::warn!(kind = other.name(), "unexpected message from the collector")
                    }
                }
            }
        }
    };
    let writer = async {
        let mut sent = acked;
        loop {
            let next = {
                let mut outbox = shared.outbox();
                if sent >= outbox.acked().saturating_add(IN_FLIGHT) {
                    None
                } else {
                    let next = outbox.next_after(sent);
                    if let Some(p) = &next {
                        outbox.mark_sent(p.seq);
                    }
                    next
                }
            };
            match next {
                Some(p) => {
                    send.write_all(&p.frame).await?;
                    sent = p.seq;
                }
                None => shared.wake.notified().await,
            }
        }
    };
    tokio::select! {
        r = reader => r,
        r = writer => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_with_full_jitter() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(60));
        let ceilings: Vec<Duration> = (0..10).map(|_| b.next_with(1.0)).collect();
        assert_eq!(ceilings[0], Duration::from_millis(500));
        assert_eq!(ceilings[1], Duration::from_secs(1));
        assert_eq!(ceilings[3], Duration::from_secs(4));
        assert_eq!(ceilings[9], Duration::from_secs(60));
        assert_eq!(b.next_with(0.0), Duration::ZERO);
        b.reset();
        assert_eq!(b.next_with(0.5), Duration::from_millis(250));
    }
}
