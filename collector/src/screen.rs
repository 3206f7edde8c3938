//! What an agent sends is checked before it is stored: times far from the
//! collector's clock and numbers that are not numbers are refused.
//!
//! An agent's clock can be wrong (a dead RTC battery, a virtual machine
//! restored from a snapshot), and a broken or hostile agent can send any
//! 64-bit number as a time, or NaN and infinities as values. Stored, such a
//! time lies outside every query and block window; fed to the incident
//! engine, it moves the engine's clocks years away for that asset. So each
//! record is checked against the collector's clock when it arrives:
//!
//! - a health sample taken more than `max_age` ago or more than `max_ahead`
//!   in the future is refused (reason `bad_time`), and so is one carrying a
//!   NaN or an infinity in any of its numbers (reason `bad_value`). The unit
//!   is the sample: the batch's other samples are stored, but no part of a
//!   sample with one broken number is (its other numbers were measured in
//!   the same broken moment, and the engine sees samples whole);
//! - a heartbeat or a user report whose time is out of range is refused
//!   (`bad_time`), and so is an inventory (snapshot or delta) taken out of
//!   range, a gap whose first or last missing time is, and a damaged spool
//!   file found out of range: each record counts once, whichever of its
//!   times is wrong;
//! - a device poll whose time is out of range is refused whole (`bad_time`);
//!   a value of an accepted poll that is NaN or infinite is dropped
//!   (`bad_value`, one per value), and the poll's status, inventory and
//!   other values are stored.
//!
//! Refusing never withholds the ack. A record whose content is refused
//! still counts for the agent's sequence numbers: the collector acks it as
//! usual, so the agent deletes it from its spool instead of sending it again
//! for ever. What was refused is not stored and never reaches the incident
//! engine; it is counted in `/metrics` as `atalaya_refused_total{reason=…}`,
//! one per sample or other record. A refused inventory also leaves the
//! collector without the base the agent's next delta builds on, so the
//! agent then owes a snapshot (see [`IngestRecord::Refused`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atalaya_common::model::{
    CpuUsage, DiskIo, FilesystemUsage, HealthSample, LoadAverage, NetworkIo, ProcessUsage,
    Temperature, Timestamp,
};
use atalaya_common::proto::Heartbeat;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::IngestRecord;

/// How far from the collector's clock an agent's times may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLimits {
    /// Oldest accepted: older than any spool holds.
    pub max_age: Duration,
    /// Furthest ahead accepted: clock drift and the trip over the network.
    pub max_ahead: Duration,
}

impl Default for TimeLimits {
    /// 30 days back, 5 minutes ahead.
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(30 * 86_400),
            max_ahead: Duration::from_secs(300),
        }
    }
}

impl TimeLimits {
    /// `at − now` in ms (positive: ahead of the collector) when `at` is out
    /// of range, `None` when it is accepted.
    pub fn offset(&self, at: Timestamp, now: Timestamp) -> Option<i64> {
        // In i128 the difference of any two times is exact.
        let ms = |d: Duration| i128::try_from(d.as_millis()).unwrap_or(i128::MAX);
        let offset = i128::from(at.0) - i128::from(now.0);
        (offset > ms(self.max_ahead) || -offset > ms(self.max_age))
            .then(|| at.0.saturating_sub(now.0))
    }
}

/// What screening took out of one record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Screened {
    /// Samples or other records refused for their time.
    pub bad_time: u64,
    /// Samples refused for a NaN or infinite number.
    pub bad_value: u64,
    /// `time − now` (ms) of the first time refused.
    pub offset_ms: Option<i64>,
    /// Whether a time of this record was accepted (the agent's clock is fine).
    pub time_accepted: bool,
}

impl Screened {
    /// Whether anything was refused.
    pub fn refused(&self) -> bool {
        self.bad_time > 0 || self.bad_value > 0
    }

    fn time(&mut self, at: Timestamp, now: Timestamp, limits: &TimeLimits) -> bool {
        self.times(&[at], now, limits)
    }

    /// Checks the times of one record, refused as one when any of them is
    /// out of range; true when all are accepted.
    fn times(&mut self, times: &[Timestamp], now: Timestamp, limits: &TimeLimits) -> bool {
        match times.iter().find_map(|&at| limits.offset(at, now)) {
            Some(offset) => {
                self.bad_time += 1;
                self.offset_ms.get_or_insert(offset);
                false
            }
            None => {
                self.time_accepted = true;
                true
            }
        }
    }
}

/// Checks `record`, received at `now`, and returns what may be stored: the
/// record itself, the record without its refused samples, or, when all of
/// it was refused, [`IngestRecord::Refused`] with its sequence number alone.
pub fn screen(
    record: IngestRecord,
    now: Timestamp,
    limits: &TimeLimits,
) -> (IngestRecord, Screened) {
    let mut s = Screened::default();
    let record = match record {
        IngestRecord::Metrics(mut batch) if !batch.samples.is_empty() => {
            batch.samples.retain(|sample| {
                if !s.time(sample.at, now, limits) {
                    return false;
                }
                if !finite(sample) {
                    s.bad_value += 1;
                    return false;
                }
                true
            });
            if batch.samples.is_empty() {
                IngestRecord::Refused {
                    seq: batch.seq,
                    inventory: false,
                }
            } else {
                IngestRecord::Metrics(batch)
            }
        }
        IngestRecord::Heartbeat(Heartbeat { seq, at }) if !s.time(at, now, limits) => {
            IngestRecord::Refused {
                seq,
                inventory: false,
            }
        }
        IngestRecord::UserReport(r) if !s.time(r.written_at, now, limits) => {
            IngestRecord::Refused {
                seq: r.seq,
                inventory: false,
            }
        }
        IngestRecord::Snapshot(snapshot) if !s.time(snapshot.taken_at, now, limits) => {
            IngestRecord::Refused {
                seq: snapshot.seq,
                inventory: true,
            }
        }
        IngestRecord::Delta(delta) if !s.time(delta.taken_at, now, limits) => {
            IngestRecord::Refused {
                seq: delta.seq,
                inventory: true,
            }
        }
        IngestRecord::Gap(gap) if !s.times(&[gap.from, gap.to], now, limits) => {
            IngestRecord::Refused {
                seq: gap.seq,
                inventory: false,
            }
        }
        IngestRecord::SpoolDamaged(damaged) if !s.time(damaged.found_at, now, limits) => {
            IngestRecord::Refused {
                seq: damaged.seq,
                inventory: false,
            }
        }
        IngestRecord::DevicePoll(poll) if !s.time(poll.polled_at, now, limits) => {
            IngestRecord::Refused {
                seq: poll.seq,
                inventory: false,
            }
        }
        IngestRecord::DeviceNeighbours(n) if !s.time(n.polled_at, now, limits) => {
            IngestRecord::Refused {
                seq: n.seq,
                inventory: false,
            }
        }
        IngestRecord::PrinterTrays(t) if !s.time(t.polled_at, now, limits) => {
            IngestRecord::Refused {
                seq: t.seq,
                inventory: false,
            }
        }
        IngestRecord::DeviceTrap(trap)
            if trap
                .trap
                .as_ref()
                .is_some_and(|t| !s.time(t.received_at, now, limits)) =>
        {
            IngestRecord::Refused {
                seq: trap.seq,
                inventory: false,
            }
        }
        IngestRecord::ProbeRound(round) if !s.time(round.at, now, limits) => {
            IngestRecord::Refused {
                seq: round.seq,
                inventory: false,
            }
        }
        IngestRecord::ProbeRound(mut round) => {
            for r in &mut round.results {
                for time in [
                    &mut r.rtt_min_ms,
                    &mut r.rtt_median_ms,
                    &mut r.rtt_max_ms,
                    &mut r.jitter_ms,
                ] {
                    if time.is_some_and(|v| !v.is_finite()) {
                        *time = None;
                        s.bad_value += 1;
                    }
                }
            }
            let before = round.results.len();
            round.results.retain(|r| r.loss_percent.is_finite());
            s.bad_value += (before - round.results.len()) as u64;
            IngestRecord::ProbeRound(round)
        }
        IngestRecord::DevicePoll(mut poll) => {
            let before = poll.values.len();
            poll.values.retain(|(_, v)| v.is_finite());
            s.bad_value += (before - poll.values.len()) as u64;
            IngestRecord::DevicePoll(poll)
        }
        other => other,
    };
    (record, s)
}

/// Whether every floating-point number of a sample is finite. The patterns
/// name every field, so a number added to the model later cannot be
/// forgotten here: the code stops compiling until it is checked too.
fn finite(s: &HealthSample) -> bool {
    let HealthSample {
        at: _,
        interval_ms: _,
        cpu,
        load,
        memory: _,
        filesystems,
        disks,
        network,
        temperatures,
        processes: _,
        uptime_seconds: _,
        top_cpu,
        top_memory,
        agent,
    } = s;
    let cpu_ok = cpu.as_ref().is_none_or(|c| {
        let CpuUsage {
            total_percent,
            user_percent,
            system_percent,
            iowait_percent,
            steal_percent,
            per_core_percent,
        } = c;
        [
            *total_percent,
            *user_percent,
            *system_percent,
            *iowait_percent,
            *steal_percent,
        ]
        .iter()
        .chain(per_core_percent)
        .all(|v| v.is_finite())
    });
    let LoadAverage { one, five, fifteen } = load;
    let fs_ok = filesystems.iter().all(|f| {
        let FilesystemUsage {
            mount_point: _,
            total_bytes: _,
            used_bytes: _,
            available_bytes: _,
            used_percent,
            inodes_used_percent,
        } = f;
        used_percent.is_finite() && inodes_used_percent.is_none_or(f64::is_finite)
    });
    let disks_ok = disks.iter().all(|d| {
        let DiskIo {
            name: _,
            read_bytes_per_second,
            write_bytes_per_second,
            reads_per_second,
            writes_per_second,
            busy_percent,
        } = d;
        [
            read_bytes_per_second,
            write_bytes_per_second,
            reads_per_second,
            writes_per_second,
            busy_percent,
        ]
        .iter()
        .all(|v| v.is_finite())
    });
    let network_ok = network.iter().all(|n| {
        let NetworkIo {
            interface: _,
            rx_bytes_per_second,
            tx_bytes_per_second,
            rx_packets_per_second,
            tx_packets_per_second,
            rx_errors: _,
            tx_errors: _,
            rx_drops: _,
            tx_drops: _,
        } = n;
        [
            rx_bytes_per_second,
            tx_bytes_per_second,
            rx_packets_per_second,
            tx_packets_per_second,
        ]
        .iter()
        .all(|v| v.is_finite())
    });
    let temperatures_ok = temperatures.iter().all(|t| {
        let Temperature {
            sensor: _,
            label: _,
            celsius,
        } = t;
        celsius.is_finite()
    });
    let process_ok = |p: &ProcessUsage| {
        let ProcessUsage {
            pid: _,
            name: _,
            cpu_percent,
            rss_bytes: _,
        } = p;
        cpu_percent.is_finite()
    };
    let atalaya_common::model::AgentUsage {
        cpu_percent,
        rss_bytes: _,
    } = agent;
    cpu_ok
        && [one, five, fifteen, cpu_percent]
            .iter()
            .all(|v| v.is_finite())
        && fs_ok
        && disks_ok
        && network_ok
        && temperatures_ok
        && top_cpu.iter().all(process_ok)
        && top_memory.iter().all(process_ok)
}

/// What the collector noticed about an agent whose times it refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClockSkew {
    /// The agent's time minus the collector's when the last time was
    /// refused, ms (positive: the agent is ahead).
    pub offset_ms: i64,
    /// When the collector last refused one of its times.
    pub noticed_at: Timestamp,
    /// Items refused for their time since the collector started.
    pub refused: u64,
}

/// Agents whose times are being refused, for the agents listing. Kept in
/// memory only: the stored agent record is postcard-encoded, which cannot
/// grow a field that existing stores would still decode. An agent leaves
/// the list when one of its times is accepted again, or when the collector
/// restarts (it comes back with its next refused time).
#[derive(Debug, Clone, Default)]
pub struct ClockSkews(Arc<Mutex<HashMap<String, ClockSkew>>>);

impl ClockSkews {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ClockSkew>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that `refused` times of `agent`, the first `offset_ms` off,
    /// were refused at `now`.
    pub fn note(&self, agent: &str, offset_ms: i64, refused: u64, now: Timestamp) {
        let mut map = self.lock();
        let entry = map.entry(agent.to_owned()).or_insert(ClockSkew {
            offset_ms,
            noticed_at: now,
            refused: 0,
        });
        entry.offset_ms = offset_ms;
        entry.noticed_at = now;
        entry.refused = entry.refused.saturating_add(refused);
    }

    /// Forgets `agent`: one of its times was accepted.
    pub fn clear(&self, agent: &str) {
        self.lock().remove(agent);
    }

    /// What is noted about `agent`, if its times are being refused.
    pub fn get(&self, agent: &str) -> Option<ClockSkew> {
        self.lock().get(agent).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atalaya_common::model::Inventory;
    use atalaya_common::proto::{
        Gap, InventoryDelta, InventorySnapshot, MetricBatch, SpoolDamaged, UserReport,
    };

    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    fn sample(at: i64) -> HealthSample {
        HealthSample {
            at: Timestamp(at),
            ..HealthSample::default()
        }
    }

    fn batch(samples: Vec<HealthSample>) -> IngestRecord {
        IngestRecord::Metrics(MetricBatch { seq: 7, samples })
    }

    #[test]
    fn times_out_of_range_are_refused_per_sample() {
        let limits = TimeLimits::default();
        let day = 86_400_000;
        let samples = vec![
            sample(NOW.0 - 29 * day),
            sample(i64::MIN),
            sample(NOW.0 + 299_000),
            sample(i64::MAX),
            sample(NOW.0 + 301_000),
            sample(NOW.0 - 31 * day),
        ];
        let (kept, s) = screen(batch(samples), NOW, &limits);
        let IngestRecord::Metrics(kept) = kept else {
            panic!("{kept:?}")
        };
        let times: Vec<i64> = kept.samples.iter().map(|s| s.at.0).collect();
        assert_eq!(times, [NOW.0 - 29 * day, NOW.0 + 299_000]);
        assert_eq!(kept.seq, 7);
        assert_eq!(s.bad_time, 4);
        assert_eq!(s.bad_value, 0);
        assert_eq!(s.offset_ms, Some(i64::MIN));
        assert!(s.time_accepted);
    }

    #[test]
    fn a_sample_with_one_broken_number_is_refused_whole() {
        let limits = TimeLimits::default();
        let broken: Vec<HealthSample> = vec![
            HealthSample {
                load: LoadAverage {
                    one: f64::NAN,
                    ..LoadAverage::default()
                },
                ..sample(NOW.0)
            },
            HealthSample {
                cpu: Some(CpuUsage {
                    per_core_percent: vec![1.0, f64::INFINITY],
                    ..CpuUsage::default()
                }),
                ..sample(NOW.0)
            },
            HealthSample {
                filesystems: vec![FilesystemUsage {
                    inodes_used_percent: Some(f64::NEG_INFINITY),
                    ..FilesystemUsage::default()
                }],
                ..sample(NOW.0)
            },
            HealthSample {
                top_memory: vec![ProcessUsage {
                    cpu_percent: f64::NAN,
                    ..ProcessUsage::default()
                }],
                ..sample(NOW.0)
            },
            // Out of range and broken: counted once, for its time.
            HealthSample {
                temperatures: vec![Temperature {
                    celsius: f64::NAN,
                    ..Temperature::default()
                }],
                ..sample(i64::MAX)
            },
        ];
        let good = HealthSample {
            load: LoadAverage {
                one: f64::MAX,
                five: -0.0,
                fifteen: f64::MIN_POSITIVE,
            },
            ..sample(NOW.0)
        };
        let mut samples = broken;
        samples.push(good.clone());
        let (kept, s) = screen(batch(samples), NOW, &limits);
        let IngestRecord::Metrics(kept) = kept else {
            panic!("{kept:?}")
        };
        assert_eq!(kept.samples, [good]);
        assert_eq!((s.bad_time, s.bad_value), (1, 4));
    }

    #[test]
    fn a_record_refused_whole_keeps_its_sequence_number() {
        let limits = TimeLimits::default();
        let (kept, s) = screen(batch(vec![sample(i64::MIN)]), NOW, &limits);
        assert!(
            matches!(
                kept,
                IngestRecord::Refused {
                    seq: 7,
                    inventory: false
                }
            ),
            "{kept:?}"
        );
        assert!(!s.time_accepted);
        let beat = IngestRecord::Heartbeat(Heartbeat {
            seq: 8,
            at: Timestamp(NOW.0 + 3_600_000),
        });
        let (kept, s) = screen(beat, NOW, &limits);
        assert!(
            matches!(
                kept,
                IngestRecord::Refused {
                    seq: 8,
                    inventory: false
                }
            ),
            "{kept:?}"
        );
        assert_eq!(s.offset_ms, Some(3_600_000));
        let report = IngestRecord::UserReport(UserReport {
            seq: 9,
            id: "r1".into(),
            written_at: Timestamp(0),
            text: "printer".into(),
            user: None,
            uid: None,
        });
        let (kept, s) = screen(report, NOW, &limits);
        assert!(
            matches!(
                kept,
                IngestRecord::Refused {
                    seq: 9,
                    inventory: false
                }
            ),
            "{kept:?}"
        );
        assert_eq!(s.bad_time, 1);
        // In range: untouched.
        let beat = IngestRecord::Heartbeat(Heartbeat { seq: 10, at: NOW });
        let (kept, s) = screen(beat, NOW, &limits);
        assert!(matches!(kept, IngestRecord::Heartbeat(_)), "{kept:?}");
        assert!(!s.refused() && s.time_accepted);
        // An empty batch has no time to check.
        let (kept, s) = screen(batch(Vec::new()), NOW, &limits);
        assert!(matches!(kept, IngestRecord::Metrics(_)), "{kept:?}");
        assert_eq!(s, Screened::default());
    }

    #[test]
    fn inventories_gaps_and_damaged_spools_out_of_range_are_refused() {
        let limits = TimeLimits::default();
        let snapshot = |seq, at| {
            IngestRecord::Snapshot(InventorySnapshot {
                seq,
                taken_at: Timestamp(at),
                inventory: Inventory::default(),
            })
        };
        let delta = |seq, at| {
            IngestRecord::Delta(InventoryDelta {
                seq,
                taken_at: Timestamp(at),
                delta: Default::default(),
            })
        };
        let gap = |seq, from, to| {
            IngestRecord::Gap(Gap {
                seq,
                batches: 1,
                samples: 1,
                from: Timestamp(from),
                to: Timestamp(to),
            })
        };
        let damaged = |seq, at| {
            IngestRecord::SpoolDamaged(SpoolDamaged {
                seq,
                found_at: Timestamp(at),
                file: "spool/quarantine/1.seg".into(),
                reason: "checksum mismatch".into(),
                bytes: 10,
                lost_bytes: 10,
            })
        };
        let refused = |record| {
            let (kept, s) = screen(record, NOW, &limits);
            match kept {
                IngestRecord::Refused { seq, inventory } => Some((seq, inventory, s.bad_time)),
                _ => {
                    assert!(!s.refused() && s.time_accepted, "{s:?}");
                    None
                }
            }
        };
        assert_eq!(refused(snapshot(1, i64::MIN)), Some((1, true, 1)));
        assert_eq!(refused(delta(2, i64::MAX)), Some((2, true, 1)));
        // Either end of a gap out of range refuses it, counted once.
        assert_eq!(refused(gap(3, i64::MIN, i64::MAX)), Some((3, false, 1)));
        assert_eq!(refused(gap(4, NOW.0 - 1000, i64::MAX)), Some((4, false, 1)));
        assert_eq!(refused(gap(5, i64::MIN, NOW.0)), Some((5, false, 1)));
        assert_eq!(refused(damaged(6, NOW.0 + 3_600_000)), Some((6, false, 1)));
        // In range: kept as sent.
        assert_eq!(refused(snapshot(7, NOW.0)), None);
        assert_eq!(refused(delta(8, NOW.0 - 1000)), None);
        assert_eq!(refused(gap(9, NOW.0 - 60_000, NOW.0)), None);
        assert_eq!(refused(damaged(10, NOW.0)), None);
    }

    #[test]
    fn device_polls_out_of_range_are_refused_and_broken_values_dropped() {
        let limits = TimeLimits::default();
        let poll = |seq, at| {
            IngestRecord::DevicePoll(atalaya_common::proto::DevicePoll {
                seq,
                device: "core-sw1".into(),
                polled_at: Timestamp(at),
                state: atalaya_common::model::device::DeviceState::Ok,
                response_ms: Some(3),
                inventory: None,
                values: vec![
                    ("snmp.reachable".into(), 1.0),
                    ("interface.in_bits_per_second{if=eth0}".into(), f64::NAN),
                    (
                        "interface.out_bits_per_second{if=eth0}".into(),
                        f64::INFINITY,
                    ),
                ],
            })
        };
        let (kept, s) = screen(poll(1, i64::MAX), NOW, &limits);
        assert!(
            matches!(
                kept,
                IngestRecord::Refused {
                    seq: 1,
                    inventory: false
                }
            ),
            "{kept:?}"
        );
        assert_eq!((s.bad_time, s.bad_value), (1, 0));
        let (kept, s) = screen(poll(2, NOW.0), NOW, &limits);
        let IngestRecord::DevicePoll(p) = kept else {
            panic!("the poll is kept: {kept:?}");
        };
        assert_eq!(p.values, [("snmp.reachable".to_owned(), 1.0)]);
        assert_eq!((s.bad_time, s.bad_value), (0, 2));
        assert!(s.time_accepted);
    }

    #[test]
    fn limits_are_configurable() {
        let limits = TimeLimits {
            max_age: Duration::from_secs(60),
            max_ahead: Duration::from_secs(1),
        };
        assert_eq!(limits.offset(Timestamp(NOW.0 - 60_000), NOW), None);
        assert_eq!(limits.offset(Timestamp(NOW.0 - 60_001), NOW), Some(-60_001));
        assert_eq!(limits.offset(Timestamp(NOW.0 + 1_001), NOW), Some(1_001));
        let huge = TimeLimits {
            max_age: Duration::MAX,
            max_ahead: Duration::MAX,
        };
        assert_eq!(huge.offset(Timestamp(i64::MIN), NOW), None);
        assert_eq!(huge.offset(Timestamp(i64::MAX), NOW), None);
    }

    #[test]
    fn skews_are_noted_and_cleared() {
        let skews = ClockSkews::default();
        skews.note("a", 3_600_000, 2, NOW);
        skews.note("a", 3_700_000, 1, Timestamp(NOW.0 + 1));
        assert_eq!(
            skews.get("a"),
            Some(ClockSkew {
                offset_ms: 3_700_000,
                noticed_at: Timestamp(NOW.0 + 1),
                refused: 3
            })
        );
        assert_eq!(skews.get("b"), None);
        skews.clear("a");
        assert_eq!(skews.get("a"), None);
    }
}
