//! The agent's outbox: every record gets the next sequence number and
//! waits here until the collector acknowledges a sequence at or above it.
//!
//! After a reconnect the uplink sends again everything not yet
//! acknowledged, in order; the collector recognises records it already
//! committed by their sequence numbers and stores them once. The records
//! live in memory ([`Outbox::new`], for tests and one-shot tools) or in the
//! on-disk [`Spool`] ([`Outbox::open`], what the daemon uses), behind the
//! same calls.

use std::collections::VecDeque;

use std::path::Path;

use atalaya_common::proto::{self, EncodeError, Gap, Message};

use crate::spool::{Recovery, Shed, Spool, SpoolError};

/// A record that could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// It could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// It could not be written to the spool.
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

/// One record waiting for its acknowledgement, already framed for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its sequence number.
    pub seq: u64,
    /// The encoded frame.
    pub frame: Vec<u8>,
}

/// Records not yet acknowledged, oldest first.
#[derive(Debug)]
pub struct Outbox {
    next_seq: u64,
    acked: u64,
    pending: VecDeque<Pending>,
    pending_bytes: usize,
    spool: Option<Spool>,
}

impl Outbox {
    /// An empty outbox whose first record gets sequence `acked + 1`.
    pub fn new(acked: u64) -> Self {
        Self {
            next_seq: acked + 1,
            acked,
            pending: VecDeque::new(),
            pending_bytes: 0,
            spool: None,
        }
    }

    /// An outbox kept on disk in `dir`, at most `max_bytes` of it, with
    /// what an earlier run left there.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Self, Recovery), SpoolError> {
        let (mut spool, recovery) = Spool::open(dir)?;
        spool.set_limit(max_bytes);
        let outbox = Self {
            next_seq: spool.next_seq(),
            acked: spool.acked(),
            pending: VecDeque::new(),
            pending_bytes: 0,
            spool: Some(spool),
        };
        Ok((outbox, recovery))
    }

    /// Frames the message `build(seq)` with the next sequence number and
    /// keeps it until acknowledged. Returns the sequence given.
    pub fn push(&mut self, build: impl FnOnce(u64) -> Message) -> Result<u64, OutboxError> {
        let seq = self.next_seq;
        let frame = proto::encode(&build(seq))?;
        match &mut self.spool {
            Some(spool) => {
                spool.append(seq, &frame)?;
                self.next_seq += 1;
                if let Some(shed) = spool.shed()? {
                    record_shed(spool, &shed, &mut self.next_seq)?;
                }
            }
            None => {
                self.pending_bytes += frame.len();
                self.pending.push_back(Pending { seq, frame });
                self.next_seq += 1;
            }
        }
        Ok(seq)
    }

    /// The collector holds everything up to `seq`: forget it. Returns how
    /// many records were released.
    pub fn ack(&mut self, seq: u64) -> usize {
        if let Some(spool) = &mut self.spool {
            self.acked = self.acked.max(seq);
            return match spool.ack(seq) {
                Ok(n) => n,
                Err(err) => {
                    // Only the bookkeeping failed: at worst records are sent
                    // again after a restart, and the collector drops them.
                    tracing::warn!(error = %err, "could not record the acknowledgement in the spool");
                    0
                }
            };
        }
        let mut released = 0;
        while self.pending.front().is_some_and(|p| p.seq <= seq) {
            if let Some(p) = self.pending.pop_front() {
                self.pending_bytes -= p.frame.len();
                released += 1;
            }
        }
        self.acked = self.acked.max(seq);
        released
    }

    /// The highest sequence acknowledged so far.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Records up to `seq` were handed to a connection. The spool never
    /// sheds them: they may have reached the collector.
    pub fn mark_sent(&mut self, seq: u64) {
        if let Some(spool) = &mut self.spool {
            spool.mark_sent(seq);
        }
    }

    /// The first pending record with a sequence above `after`.
    pub fn next_after(&self, after: u64) -> Option<Pending> {
        if let Some(spool) = &self.spool {
            return match spool.next_after(after) {
                Ok(found) => found.map(|(seq, frame)| Pending { seq, frame }),
                Err(err) => {
                    tracing::error!(error = %err, "could not read the spool");
                    None
                }
            };
        }
        // Sequences are consecutive, so the position is arithmetic.
        let first = self.pending.front()?.seq;
        let index = after.saturating_add(1).saturating_sub(first);
        self.pending.get(usize::try_from(index).ok()?).cloned()
    }

    /// Changes the most bytes the on-disk spool may take (the agent's
    /// policy changed); an outbox in memory has no limit.
    pub fn set_limit(&mut self, max_bytes: u64) {
        if let Some(spool) = &mut self.spool {
            spool.set_limit(max_bytes);
        }
    }

    /// Number of records waiting.
    pub fn len(&self) -> usize {
        self.spool.as_ref().map_or(self.pending.len(), Spool::len)
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> u64 {
        self.spool
            .as_ref()
            .map_or(self.pending_bytes as u64, Spool::bytes)
    }
}

/// Logs what the spool dropped for room and, for health samples, queues
/// the gap record that tells the collector exactly what will never arrive.
/// Dropped device polls need none: the collector sees the missing polls.
fn record_shed(spool: &mut Spool, shed: &Shed, next_seq: &mut u64) -> Result<(), OutboxError> {
    if shed.device_polls > 0 {
        tracing::warn!(
            device_polls = shed.device_polls,
            "spool full: oldest device polls dropped"
        );
    }
    if shed.batches == 0 {
        return Ok(());
    }
    tracing::warn!(batches = shed.batches, samples = shed.samples, from = %shed.from, to = %shed.to, "spool full: oldest health samples dropped");
    let gap = proto::encode(&Message::Gap(Gap {
        seq: *next_seq,
        batches: shed.batches,
        samples: shed.samples,
        from: shed.from,
        to: shed.to,
    }))?;
    spool.append(*next_seq, &gap)?;
    *next_seq += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use atalaya_common::model::Timestamp;
    use atalaya_common::proto::Heartbeat;

    fn beat(seq: u64) -> Message {
        Message::Heartbeat(Heartbeat {
            seq,
            at: Timestamp(0),
        })
    }

    #[test]
    fn records_wait_until_acked_and_resend_in_order() {
        let mut outbox = Outbox::new(0);
        for _ in 0..5 {
            outbox.push(beat).unwrap();
        }
        assert_eq!(outbox.len(), 5);
        assert_eq!(outbox.next_after(0).unwrap().seq, 1);
        assert_eq!(outbox.next_after(3).unwrap().seq, 4);
        assert!(outbox.next_after(5).is_none());
        assert_eq!(outbox.ack(3), 3);
        assert_eq!(outbox.len(), 2);
        // After a reconnect the collector says it holds 3: resend from 4.
        assert_eq!(outbox.next_after(outbox.acked()).unwrap().seq, 4);
        // An old ack arriving late changes nothing.
        assert_eq!(outbox.ack(2), 0);
        assert_eq!(outbox.acked(), 3);
        assert_eq!(outbox.ack(10), 2);
        assert!(outbox.is_empty());
        assert_eq!(outbox.bytes(), 0);
    }

    #[test]
    fn a_spooled_outbox_resends_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (mut outbox, _) = Outbox::open(dir.path(), u64::MAX).unwrap();
        for _ in 0..4 {
            outbox.push(beat).unwrap();
        }
        outbox.ack(1);
        drop(outbox);
        let (outbox, recovery) = Outbox::open(dir.path(), u64::MAX).unwrap();
        assert_eq!(recovery.pending, 3);
        assert_eq!(outbox.acked(), 1);
        let next = outbox.next_after(outbox.acked()).unwrap();
        assert_eq!(next.seq, 2);
        let (message, _) = proto::decode(&next.frame).unwrap().unwrap();
        assert_eq!(message, beat(2));
    }

    #[test]
    fn a_full_spool_sends_a_gap_record_for_what_it_dropped() {
        use atalaya_common::model::HealthSample;
        use atalaya_common::proto::MetricBatch;
        let dir = tempfile::tempdir().unwrap();
        let (mut outbox, _) = Outbox::open(dir.path(), 8192).unwrap();
        for i in 0..300i64 {
            let sample = HealthSample {
                at: Timestamp(i * 1000),
                ..HealthSample::default()
            };
            outbox
                .push(|seq| {
                    Message::MetricBatch(MetricBatch {
                        seq,
                        samples: vec![sample],
                    })
                })
                .unwrap();
        }
        let mut after = 0;
        let mut gaps = Vec::new();
        let mut kept = Vec::new();
        while let Some(p) = outbox.next_after(after) {
            after = p.seq;
            match proto::decode(&p.frame).unwrap().unwrap().0 {
                Message::Gap(g) => gaps.push(g),
                Message::MetricBatch(b) => kept.push(b.samples[0].at.0),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(!gaps.is_empty());
        let dropped: u32 = gaps.iter().map(|g| g.samples).sum();
        // Every sample is either still waiting or accounted for in a gap.
        assert_eq!(dropped as usize + kept.len(), 300, "{gaps:?}");
        assert_eq!(gaps[0].from, Timestamp(0));
    }

    #[test]
    fn a_full_spool_drops_device_polls_but_keeps_device_inventories() {
        use atalaya_common::model::{DeviceInventory, DeviceState};
        use atalaya_common::proto::DevicePoll;
        let dir = tempfile::tempdir().unwrap();
        let (mut outbox, _) = Outbox::open(dir.path(), 8192).unwrap();
        for i in 0..300i64 {
            let inventory = (i % 50 == 0).then(DeviceInventory::default);
            outbox
                .push(|seq| {
                    Message::DevicePoll(DevicePoll {
                        seq,
                        device: "core-sw".into(),
                        polled_at: Timestamp(i * 1000),
                        state: DeviceState::Ok,
                        response_ms: Some(3),
                        inventory,
                        values: vec![("snmp.reachable".into(), 1.0)],
                    })
                })
                .unwrap();
        }
        let (mut after, mut polls, mut inventories) = (0, 0, Vec::new());
        while let Some(p) = outbox.next_after(after) {
            after = p.seq;
            match proto::decode(&p.frame).unwrap().unwrap().0 {
                Message::DevicePoll(d) if d.inventory.is_some() => {
                    inventories.push(d.polled_at.0);
                }
                Message::DevicePoll(_) => polls += 1,
                other => panic!("no gap record for device polls: {other:?}"),
            }
        }
        assert!(polls < 294, "some polls were dropped: {polls} kept");
        assert_eq!(inventories, [0, 50_000, 100_000, 150_000, 200_000, 250_000]);
    }

    #[test]
    fn sequence_numbers_continue_after_the_last_acked() {
        let mut outbox = Outbox::new(41);
        assert_eq!(outbox.push(beat).unwrap(), 42);
        let (message, _) = proto::decode(&outbox.next_after(0).unwrap().frame)
            .unwrap()
            .unwrap();
        assert_eq!(message, beat(42));
    }
}
