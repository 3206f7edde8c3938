//! The agent's outbox: every record gets the next sequence number and
//! waits here until the collector acknowledges a sequence at or above it.
//!
//! After a reconnect the uplink sends again everything not yet
//! acknowledged, in order; the collector recognises records it already
//! committed by their sequence numbers and stores them once. This one lives
//! in memory: the durable on-disk spool replaces it behind the same calls.

use std::collections::VecDeque;

use atalaya_common::proto::{self, EncodeError, Message};

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
}

impl Outbox {
    /// An empty outbox whose first record gets sequence `acked + 1`.
    pub fn new(acked: u64) -> Self {
        Self {
            next_seq: acked + 1,
            acked,
            pending: VecDeque::new(),
            pending_bytes: 0,
        }
    }

    /// Frames the message `build(seq)` with the next sequence number and
    /// keeps it until acknowledged. Returns the sequence given.
    pub fn push(&mut self, build: impl FnOnce(u64) -> Message) -> Result<u64, EncodeError> {
        let seq = self.next_seq;
        let frame = proto::encode(&build(seq))?;
        self.next_seq += 1;
        self.pending_bytes += frame.len();
        self.pending.push_back(Pending { seq, frame });
        Ok(seq)
    }

    /// The collector holds everything up to `seq`: forget it. Returns how
    /// many records were released.
    pub fn ack(&mut self, seq: u64) -> usize {
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

    /// The first pending record with a sequence above `after`.
    pub fn next_after(&self, after: u64) -> Option<&Pending> {
        // Sequences are consecutive, so the position is arithmetic.
        let first = self.pending.front()?.seq;
        let index = after.saturating_add(1).saturating_sub(first);
        self.pending.get(usize::try_from(index).ok()?)
    }

    /// Number of records waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.pending_bytes
    }
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
    fn sequence_numbers_continue_after_the_last_acked() {
        let mut outbox = Outbox::new(41);
        assert_eq!(outbox.push(beat).unwrap(), 42);
        let (message, _) = proto::decode(&outbox.next_after(0).unwrap().frame)
            .unwrap()
            .unwrap();
        assert_eq!(message, beat(42));
    }
}
