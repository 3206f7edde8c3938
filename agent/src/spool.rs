//! The durable outbox: records on disk until the collector acknowledges them.
//!
//! Records are appended to segment files (`spool/<first seq>.seg`, rotated
//! at [`SEGMENT_BYTES`]) and synced before they count as queued, so a
//! record survives an agent crash, `kill -9` or a power cut once `push`
//! returned. Each record carries a CRC-32 of its sequence and frame:
//!
//! ```text
//! "AS" | len u32 LE | crc32 u32 LE | seq u64 LE | frame (len bytes)
//! ```
//!
//! On start the segments are read back. A torn record at the end of the
//! newest segment (the crash happened during the append) is cut off; any
//! other damage moves the whole segment to `spool/quarantine/` and is
//! reported, and the agent keeps running with what is intact. The highest
//! acknowledged sequence is kept in `spool/acked`; segments wholly at or
//! below it are deleted.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use atalaya_common::model::Timestamp;
use atalaya_common::proto::Message;

/// A segment is closed and a new one started past this size.
pub const SEGMENT_BYTES: u64 = 4 << 20;
const MAGIC: &[u8; 2] = b"AS";
const HEADER: usize = 2 + 4 + 4 + 8;
/// A frame larger than this in the spool is damage, not data.
const MAX_RECORD: u32 = atalaya_common::proto::MAX_PAYLOAD_BYTES + 64;

/// A spool that could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("spool {path}: {source}")]
pub struct SpoolError {
    /// The file or directory concerned.
    pub path: PathBuf,
    /// What the system said.
    pub source: io::Error,
}

fn err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError {
        path: path.to_path_buf(),
        source,
    }
}

/// What opening the spool found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// Records waiting to be sent again.
    pub pending: usize,
    /// Bytes of a torn last record cut off.
    pub truncated_bytes: u64,
    /// Damaged segments moved aside.
    pub quarantined: Vec<Quarantined>,
}

/// A damaged segment, moved to `spool/quarantine/` after its intact
/// records were copied back into the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// Where the damaged file now is.
    pub file: PathBuf,
    /// The first damage found in it.
    pub reason: String,
    /// Its size.
    pub bytes: u64,
    /// Bytes that were not part of an intact record, and are lost.
    pub lost_bytes: u64,
    /// Intact records kept in the spool.
    pub kept_records: usize,
}

/// Writes `bytes` to `path` through a temporary file, synced, then renamed.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).map_err(err(&tmp))?;
    file.write_all(bytes).map_err(err(&tmp))?;
    file.sync_all().map_err(err(&tmp))?;
    fs::rename(&tmp, path).map_err(err(path))
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    seq: u64,
    segment: u64,
    offset: u64,
    len: u32,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    last_seq: u64,
    size: u64,
}

/// Records on disk, oldest first.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    segments: Vec<Segment>,
    entries: VecDeque<Entry>,
    current: Option<File>,
    next_seq: u64,
    acked: u64,
    /// Highest sequence ever handed to a connection: it may have reached
    /// the collector even if no ack came back, so it is never shed (a gap
    /// record must not claim as lost what the collector may hold).
    sent: u64,
    bytes: u64,
    max_bytes: u64,
}

/// Health samples and device polls dropped to keep the spool within its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shed {
    /// Metric batches dropped.
    pub batches: u32,
    /// Health samples in them.
    pub samples: u32,
    /// Time of the first dropped sample.
    pub from: Timestamp,
    /// Time of the last dropped sample.
    pub to: Timestamp,
    /// Device polls dropped (never one that carries a device inventory).
    pub device_polls: u32,
}

impl Shed {
    fn empty() -> Self {
        Shed {
            batches: 0,
            samples: 0,
            from: Timestamp(i64::MAX),
            to: Timestamp(i64::MIN),
            device_polls: 0,
        }
    }
}

/// Whether the record in `frame` may be dropped for room; if so, it is
/// counted in `shed`. Health samples, heartbeats, probe rounds and device
/// polls without an inventory may go (they are series points, and the next
/// ones follow);
/// inventories, device inventories and everything else never do.
fn shed_record(frame: &[u8], shed: &mut Option<Shed>) -> bool {
    match atalaya_common::proto::decode(frame) {
        Ok(Some((Message::MetricBatch(batch), _))) => {
            let s = shed.get_or_insert_with(Shed::empty);
            s.batches += 1;
            for sample in &batch.samples {
                s.samples += 1;
                s.from = s.from.min(sample.at);
                s.to = s.to.max(sample.at);
            }
            true
        }
        Ok(Some((Message::DevicePoll(poll), _))) if poll.inventory.is_none() => {
            shed.get_or_insert_with(Shed::empty).device_polls += 1;
            true
        }
        Ok(Some((Message::Heartbeat(_) | Message::ProbeRound(_), _))) => true,
        _ => false,
    }
}

/// Encodes one record: marker, length, checksum, sequence, frame.
fn encode_record(seq: u64, frame: &[u8], len: u32) -> Vec<u8> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(frame);
    let mut record = Vec::with_capacity(HEADER + frame.len());
    record.extend_from_slice(MAGIC);
    record.extend_from_slice(&len.to_le_bytes());
    record.extend_from_slice(&crc.finalize().to_le_bytes());
    record.extend_from_slice(&seq.to_le_bytes());
    record.extend_from_slice(frame);
    record
}

impl Spool {
    /// Opens (or creates) the spool in `dir` and reads back what it holds.
    pub fn open(dir: &Path) -> Result<(Spool, Recovery), SpoolError> {
        fs::create_dir_all(dir).map_err(err(dir))?;
        let acked_path = dir.join("acked");
        let acked = match fs::read_to_string(&acked_path) {
            Ok(text) => text.trim().parse().unwrap_or(0),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(err(&acked_path)(e)),
        };
        let mut ids: Vec<u64> = fs::read_dir(dir)
            .map_err(err(dir))?
            .filter_map(|e| {
                let name = e.ok()?.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            segments: Vec::new(),
            entries: VecDeque::new(),
            current: None,
            next_seq: acked + 1,
            acked,
            sent: acked,
            bytes: 0,
            max_bytes: u64::MAX,
        };
        let mut recovery = Recovery::default();
        let newest = ids.last().copied();
        for id in ids {
            let path = spool.segment_path(id);
            let data = fs::read(&path).map_err(err(&path))?;
            let (mut records, mut good_len, damage) = parse(&data);
            if let Some(why) = damage {
                if Some(id) == newest && records_after_damage_are_absent(&data, good_len) {
                    // A crash during the last append: cut the torn record.
                    let file = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(err(&path))?;
                    file.set_len(good_len as u64).map_err(err(&path))?;
                    file.sync_all().map_err(err(&path))?;
                    recovery.truncated_bytes += (data.len() - good_len) as u64;
                } else {
                    // Keep every intact record; the damaged file goes aside
                    // whole, for a person to look at.
                    let aside = dir.join("quarantine");
                    fs::create_dir_all(&aside).map_err(err(&aside))?;
                    let target = aside.join(format!("{id}.seg"));
                    fs::rename(&path, &target).map_err(err(&path))?;
                    let kept = salvage(&data);
                    write_synced(&path, &kept)?;
                    let (kept_records, kept_len, _) = parse(&kept);
                    recovery.quarantined.push(Quarantined {
                        file: target,
                        reason: why,
                        bytes: data.len() as u64,
                        lost_bytes: (data.len() - kept_len) as u64,
                        kept_records: kept_records.len(),
                    });
                    records = kept_records;
                    good_len = kept_len;
                }
            }
            let mut last_seq = 0;
            for (seq, offset, len) in records {
                last_seq = last_seq.max(seq);
                spool.next_seq = spool.next_seq.max(seq + 1);
                if seq > acked {
                    spool.entries.push_back(Entry {
                        seq,
                        segment: id,
                        offset,
                        len,
                    });
                    spool.bytes += u64::from(len);
                }
            }
            spool.segments.push(Segment {
                id,
                last_seq,
                size: good_len as u64,
            });
        }
        spool.entries.make_contiguous().sort_by_key(|e| e.seq);
        spool.drop_acked_segments()?;
        recovery.pending = spool.entries.len();
        // A previous run may have sent any of them.
        spool.sent = spool.next_seq - 1;
        Ok((spool, recovery))
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id:020}.seg"))
    }

    /// Writes `frame` as record `seq` and syncs it to disk.
    pub fn append(&mut self, seq: u64, frame: &[u8]) -> Result<(), SpoolError> {
        let len = u32::try_from(frame.len()).map_err(|_| SpoolError {
            path: self.dir.clone(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "record too large"),
        })?;
        let rotate =
            self.segments.last().is_none_or(|s| s.size >= SEGMENT_BYTES) || self.current.is_none();
        if rotate {
            let path = self.segment_path(seq);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(err(&path))?;
            let size = file.metadata().map_err(err(&path))?.len();
            if self.segments.last().is_none_or(|s| s.id != seq) {
                self.segments.push(Segment {
                    id: seq,
                    last_seq: seq,
                    size,
                });
            }
            self.current = Some(file);
        }
        let Some(segment) = self.segments.last_mut() else {
            unreachable!("a segment was just made")
        };
        let path = self.dir.join(format!("{:020}.seg", segment.id));
        let record = encode_record(seq, frame, len);
        let file = self.current.as_mut().ok_or_else(|| SpoolError {
            path: path.clone(),
            source: io::Error::other("no open segment"),
        })?;
        file.write_all(&record).map_err(err(&path))?;
        file.sync_data().map_err(err(&path))?;
        self.entries.push_back(Entry {
            seq,
            segment: segment.id,
            offset: segment.size + HEADER as u64,
            len,
        });
        segment.size += record.len() as u64;
        segment.last_seq = seq;
        self.next_seq = self.next_seq.max(seq + 1);
        self.bytes += u64::from(len);
        Ok(())
    }

    /// Forgets records up to `seq` and deletes segments that hold nothing else.
    pub fn ack(&mut self, seq: u64) -> Result<usize, SpoolError> {
        if seq <= self.acked {
            return Ok(0);
        }
        let mut released = 0;
        while self.entries.front().is_some_and(|e| e.seq <= seq) {
            if let Some(e) = self.entries.pop_front() {
                self.bytes -= u64::from(e.len);
                released += 1;
            }
        }
        self.acked = seq;
        let path = self.dir.join("acked");
        let tmp = self.dir.join("acked.tmp");
        fs::write(&tmp, seq.to_string()).map_err(err(&tmp))?;
        fs::rename(&tmp, &path).map_err(err(&path))?;
        self.drop_acked_segments()?;
        Ok(released)
    }

    fn drop_acked_segments(&mut self) -> Result<(), SpoolError> {
        let newest = self.segments.last().map(|s| s.id);
        let acked = self.acked;
        let limit = self.segment_limit();
        let mut keep = Vec::with_capacity(self.segments.len());
        for s in self.segments.drain(..) {
            // The newest segment stays open for appends unless it is full.
            let done = s.last_seq <= acked && (Some(s.id) != newest || s.size >= limit);
            if done {
                let path = self.dir.join(format!("{:020}.seg", s.id));
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(err(&path)(e)),
                }
                if Some(s.id) == newest {
                    self.current = None;
                }
            } else {
                keep.push(s);
            }
        }
        self.segments = keep;
        Ok(())
    }

    /// Bounds the spool to `max_bytes` on disk (see [`Spool::shed`]).
    pub fn set_limit(&mut self, max_bytes: u64) {
        self.max_bytes = max_bytes;
    }

    /// Segments are small enough that shedding one frees a useful share.
    fn segment_limit(&self) -> u64 {
        SEGMENT_BYTES.min((self.max_bytes / 4).max(4096))
    }

    /// Bytes of the segment files.
    pub fn file_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// While the spool is over its limit, drops the oldest health samples
    /// (and heartbeats, and device polls without an inventory) segment by
    /// segment, keeping every inventory record:
    /// those are never given up for room. Returns what was dropped, for the
    /// gap record the collector is told about.
    pub fn shed(&mut self) -> Result<Option<Shed>, SpoolError> {
        let mut shed: Option<Shed> = None;
        // Segments are visited oldest first; one that holds nothing that may
        // go (inventory, records already sent) is passed over.
        let mut index = 0;
        while self.file_bytes() > self.max_bytes {
            let Some(oldest) = self.segments.get(index).map(|s| s.id) else {
                break;
            };
            if index + 1 >= self.segments.len() {
                // Only the segment being written: start a new one with the
                // next record, so this one can be shed then.
                self.current = None;
                break;
            }
            let path = self.segment_path(oldest);
            let data = fs::read(&path).map_err(err(&path))?;
            let (records, _, _) = parse(&data);
            let mut kept = Vec::new();
            let mut dropped = 0usize;
            for (seq, offset, len) in records {
                let start = offset as usize;
                let Some(frame) = data.get(start..start + len as usize) else {
                    continue;
                };
                if seq <= self.acked {
                    dropped += 1;
                    continue;
                }
                if seq <= self.sent {
                    kept.push((seq, frame));
                    continue;
                }
                if shed_record(frame, &mut shed) {
                    dropped += 1;
                } else {
                    kept.push((seq, frame));
                }
            }
            if dropped == 0 {
                index += 1;
                continue;
            }
            self.entries.retain(|e| e.segment != oldest);
            let mut size = 0u64;
            let mut bytes = Vec::new();
            for (seq, frame) in &kept {
                let len = frame.len() as u32;
                self.entries.push_back(Entry {
                    seq: *seq,
                    segment: oldest,
                    offset: size + HEADER as u64,
                    len,
                });
                let record = encode_record(*seq, frame, len);
                size += record.len() as u64;
                bytes.extend_from_slice(&record);
            }
            self.entries.make_contiguous().sort_by_key(|e| e.seq);
            self.bytes = self.entries.iter().map(|e| u64::from(e.len)).sum();
            if kept.is_empty() {
                fs::remove_file(&path).map_err(err(&path))?;
                self.segments.remove(index);
            } else {
                write_synced(&path, &bytes)?;
                if let Some(s) = self.segments.get_mut(index) {
                    s.size = size;
                }
                index += 1;
            }
        }
        Ok(shed)
    }

    /// The frame of the first record above `after`, read back from disk.
    pub fn next_after(&self, after: u64) -> Result<Option<(u64, Vec<u8>)>, SpoolError> {
        let i = self.entries.partition_point(|e| e.seq <= after);
        let Some(e) = self.entries.get(i) else {
            return Ok(None);
        };
        let path = self.segment_path(e.segment);
        let mut file = File::open(&path).map_err(err(&path))?;
        file.seek(SeekFrom::Start(e.offset)).map_err(err(&path))?;
        let mut frame = vec![0; e.len as usize];
        file.read_exact(&mut frame).map_err(err(&path))?;
        Ok(Some((e.seq, frame)))
    }

    /// The sequence the next record gets.
    /// Records up to `seq` were handed to a connection: never shed them.
    pub fn mark_sent(&mut self, seq: u64) {
        self.sent = self.sent.max(seq);
    }

    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The highest acknowledged sequence.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Frame bytes waiting.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// One record read at byte `at`: (seq, frame offset, frame length), or
/// what is wrong there.
fn parse_record(data: &[u8], at: usize) -> Result<(u64, usize, u32), String> {
    let Some(head) = data.get(at..at + HEADER) else {
        return Err(format!("record at byte {at} is cut short"));
    };
    if &head[..2] != MAGIC {
        return Err(format!("no record marker at byte {at}"));
    }
    let word = |r: std::ops::Range<usize>| head.get(r).and_then(|b| b.try_into().ok());
    let (Some(len), Some(crc), Some(seq)) = (
        word(2..6).map(u32::from_le_bytes),
        word(6..10).map(u32::from_le_bytes),
        head.get(10..18)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes),
    ) else {
        return Err(format!("unreadable header at byte {at}"));
    };
    if len > MAX_RECORD {
        return Err(format!("record at byte {at} claims {len} bytes"));
    }
    let start = at + HEADER;
    let Some(frame) = data.get(start..start + len as usize) else {
        return Err(format!("record at byte {at} is cut short"));
    };
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(frame);
    if hasher.finalize() != crc {
        return Err(format!("checksum mismatch in record {seq} at byte {at}"));
    }
    Ok((seq, start, len))
}

/// The records of a segment: (seq, frame offset, frame length), how many
/// bytes are good, and what is wrong after them, if anything.
fn parse(data: &[u8]) -> (Vec<(u64, u64, u32)>, usize, Option<String>) {
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        match parse_record(data, at) {
            Ok((seq, start, len)) => {
                records.push((seq, start as u64, len));
                at = start + len as usize;
            }
            Err(why) => return (records, at, Some(why)),
        }
    }
    (records, at, None)
}

/// Every intact record of a damaged segment, re-encoded back to back: after
/// each damaged stretch the scan resumes at the next marker that starts a
/// record whose checksum holds.
fn salvage(data: &[u8]) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        match parse_record(data, at) {
            Ok((_, start, len)) => {
                let end = start + len as usize;
                kept.extend_from_slice(&data[at..end]);
                at = end;
            }
            Err(_) => {
                at = match data[at + 1..].windows(2).position(|w| w == MAGIC) {
                    Some(next) => at + 1 + next,
                    None => data.len(),
                };
            }
        }
    }
    kept
}

/// A torn append leaves a prefix of one record at the very end; damage
/// followed by more intact-looking records is corruption, not a torn write.
fn records_after_damage_are_absent(data: &[u8], good_len: usize) -> bool {
    let tail = &data[good_len.min(data.len())..];
    tail.windows(2).skip(1).all(|w| w != MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: u8) -> Vec<u8> {
        vec![n; 40 + usize::from(n)]
    }

    #[test]
    fn records_survive_a_restart_until_acked() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, rec) = Spool::open(dir.path()).unwrap();
        assert_eq!(rec, Recovery::default());
        for seq in 1..=5 {
            spool.append(seq, &frame(seq as u8)).unwrap();
        }
        spool.ack(2).unwrap();
        drop(spool);
        let (spool, rec) = Spool::open(dir.path()).unwrap();
        assert_eq!(rec.pending, 3);
        assert_eq!(spool.acked(), 2);
        assert_eq!(spool.next_seq(), 6);
        assert_eq!(spool.next_after(2).unwrap(), Some((3, frame(3))));
        assert_eq!(spool.next_after(4).unwrap(), Some((5, frame(5))));
        assert_eq!(spool.next_after(5).unwrap(), None);
    }

    #[test]
    fn a_torn_last_record_is_cut_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path()).unwrap();
        spool.append(1, &frame(1)).unwrap();
        spool.append(2, &frame(2)).unwrap();
        drop(spool);
        let seg = dir.path().join(format!("{:020}.seg", 1));
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 7)
            .unwrap();
        let (mut spool, rec) = Spool::open(dir.path()).unwrap();
        assert_eq!(rec.pending, 1);
        assert!(rec.truncated_bytes > 0);
        assert!(rec.quarantined.is_empty());
        // Sequence 2 was never durable; the next record may take its number.
        spool.append(2, &frame(9)).unwrap();
        assert_eq!(spool.next_after(1).unwrap(), Some((2, frame(9))));
    }

    #[test]
    fn a_damaged_segment_is_quarantined_and_the_agent_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path()).unwrap();
        spool.append(1, &frame(1)).unwrap();
        spool.append(2, &frame(2)).unwrap();
        drop(spool);
        let seg = dir.path().join(format!("{:020}.seg", 1));
        let mut bytes = fs::read(&seg).unwrap();
        bytes[HEADER + 3] ^= 0xff; // inside the first frame: checksum fails, record 2 follows
        fs::write(&seg, bytes).unwrap();
        let (mut spool, rec) = Spool::open(dir.path()).unwrap();
        assert_eq!(rec.quarantined.len(), 1, "{rec:?}");
        let q = &rec.quarantined[0];
        assert!(q.reason.contains("checksum mismatch"), "{rec:?}");
        assert!(q.file.exists());
        // Record 2 was intact and stays; record 1 is lost, bytes counted.
        assert_eq!(q.kept_records, 1);
        assert_eq!(q.lost_bytes, (HEADER + frame(1).len()) as u64);
        assert_eq!(spool.next_after(0).unwrap(), Some((2, frame(2))));
        spool.append(3, &frame(3)).unwrap();
        assert_eq!(spool.next_after(2).unwrap(), Some((3, frame(3))));
        drop(spool);
        // The salvaged spool opens clean.
        let (spool, rec) = Spool::open(dir.path()).unwrap();
        assert!(rec.quarantined.is_empty(), "{rec:?}");
        assert_eq!(spool.len(), 2);
    }

    #[test]
    fn salvage_resumes_after_garbage_in_the_middle() {
        let mut data = encode_record(1, &frame(1), frame(1).len() as u32);
        data.extend_from_slice(b"ASgarbage that looks like a marker");
        data.extend_from_slice(&encode_record(2, &frame(2), frame(2).len() as u32));
        let kept = salvage(&data);
        let (records, len, damage) = parse(&kept);
        assert_eq!(damage, None);
        assert_eq!(len, kept.len());
        assert_eq!(records.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
    }

    #[test]
    fn acked_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path()).unwrap();
        let big = vec![7u8; 1 << 20];
        for seq in 1..=10 {
            spool.append(seq, &big).unwrap();
        }
        let segments = || {
            fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .path()
                        .extension()
                        .is_some_and(|x| x == "seg")
                })
                .count()
        };
        assert!(segments() >= 2, "rotation at {SEGMENT_BYTES} bytes");
        spool.ack(10).unwrap();
        assert!(segments() <= 1);
        assert_eq!(spool.bytes(), 0);
    }

    #[test]
    fn over_its_limit_the_spool_drops_the_oldest_samples_and_keeps_inventory() {
        use atalaya_common::model::{HealthSample, Inventory};
        use atalaya_common::proto::{InventorySnapshot, MetricBatch, encode};
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path()).unwrap();
        spool.set_limit(8192);
        let snapshot = encode(&Message::InventorySnapshot(InventorySnapshot {
            seq: 1,
            taken_at: Timestamp(0),
            inventory: Inventory::default(),
        }))
        .unwrap();
        spool.append(1, &snapshot).unwrap();
        let mut total = Shed {
            batches: 0,
            samples: 0,
            from: Timestamp(i64::MAX),
            to: Timestamp(i64::MIN),
            device_polls: 0,
        };
        for seq in 2..=200u64 {
            let sample = HealthSample {
                at: Timestamp(seq as i64 * 1000),
                ..HealthSample::default()
            };
            let frame = encode(&Message::MetricBatch(MetricBatch {
                seq,
                samples: vec![sample],
            }))
            .unwrap();
            spool.append(seq, &frame).unwrap();
            if let Some(s) = spool.shed().unwrap() {
                total.batches += s.batches;
                total.samples += s.samples;
                total.from = total.from.min(s.from);
                total.to = total.to.max(s.to);
            }
            assert!(
                spool.file_bytes() <= 8192 + spool.segment_limit(),
                "{} bytes",
                spool.file_bytes()
            );
        }
        // The inventory record is still first in line; the oldest samples went.
        assert_eq!(spool.next_after(0).unwrap().map(|(seq, _)| seq), Some(1));
        assert!(total.batches >= 50, "{total:?}");
        assert_eq!(total.from, Timestamp(2000), "the oldest sample went first");
        let (kept_after_inventory, _) = spool.next_after(1).unwrap().unwrap();
        assert_eq!(
            total.to.0,
            (kept_after_inventory as i64 - 1) * 1000,
            "dropped samples are exactly the oldest ones"
        );
        // And it all reads back after a restart.
        drop(spool);
        let (spool, rec) = Spool::open(dir.path()).unwrap();
        assert!(rec.quarantined.is_empty());
        assert_eq!(spool.next_after(0).unwrap().map(|(seq, _)| seq), Some(1));
    }

    #[test]
    fn records_handed_to_a_connection_are_never_shed() {
        use atalaya_common::model::HealthSample;
        use atalaya_common::proto::{MetricBatch, encode};
        let dir = tempfile::tempdir().unwrap();
        let (mut spool, _) = Spool::open(dir.path()).unwrap();
        spool.set_limit(8192);
        let mut first_dropped = None;
        for seq in 1..=200u64 {
            let frame = encode(&Message::MetricBatch(MetricBatch {
                seq,
                samples: vec![HealthSample {
                    at: Timestamp(seq as i64 * 1000),
                    ..HealthSample::default()
                }],
            }))
            .unwrap();
            spool.append(seq, &frame).unwrap();
            if seq <= 40 {
                // The uplink sent these; no ack came back yet.
                spool.mark_sent(seq);
            }
            if let Some(s) = spool.shed().unwrap() {
                first_dropped.get_or_insert(s.from);
            }
        }
        assert_eq!(first_dropped, Some(Timestamp(41_000)), "sent records went");
        let mut after = 0;
        for expected in 1..=40 {
            let (seq, _) = spool.next_after(after).unwrap().unwrap();
            assert_eq!(seq, expected);
            after = seq;
        }
    }

    #[test]
    fn garbage_files_never_panic() {
        for len in [0usize, 1, 5, HEADER, HEADER + 3, 100] {
            let dir = tempfile::tempdir().unwrap();
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            fs::write(dir.path().join(format!("{:020}.seg", 1)), &junk).unwrap();
            fs::write(
                dir.path().join(format!("{:020}.seg", 9)),
                b"AS\xff\xff\xff\xff",
            )
            .unwrap();
            let (spool, _) = Spool::open(dir.path()).unwrap();
            assert!(spool.is_empty());
        }
    }
}
