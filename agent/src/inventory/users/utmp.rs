//! utmp/wtmp records: who is logged in, and who logged in last.
//!
//! The layout is glibc's `struct utmp` on 64-bit Linux (x86_64, aarch64),
//! which musl shares: 384-byte records, 32-bit `tv_sec`. Numbers are in the
//! host's byte order. Hand-written because no maintained crate parses utmp
//! from a byte buffer without going through the C library's `getutent`,
//! which reads only the live host's file.

use std::io::{self, Read, Seek, SeekFrom};

/// Size of one record.
pub const RECORD_SIZE: usize = 384;

/// `ut_type` of a logged-in user's session.
pub const USER_PROCESS: i32 = 7;

/// `ut_type` of a session that has ended (a logout in wtmp).
#[cfg(test)]
pub const DEAD_PROCESS: i32 = 8;

/// How far back into wtmp the last login is looked for: a server that only
/// reboots could otherwise make the agent read years of records.
const WTMP_SCAN_LIMIT_BYTES: u64 = 8 << 20;

/// Records read per step when walking wtmp backwards: ~64 KiB, whole records.
const CHUNK_RECORDS: usize = 170;

/// Names that appear in `ut_user` of bookkeeping records, never a person.
const PSEUDO_USERS: &[&str] = &["LOGIN", "reboot", "runlevel", "shutdown"];

/// The fields of one record the inventory uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `ut_type`.
    pub kind: i32,
    /// `ut_pid`.
    pub pid: i32,
    /// `ut_line`: the terminal, e.g. `pts/0`.
    pub line: String,
    /// `ut_user`.
    pub user: String,
    /// `ut_host`: remote host, empty for local logins.
    pub host: String,
    /// `ut_tv.tv_sec`, seconds since the epoch.
    pub seconds: i64,
}

impl Record {
    /// Whether this record is a person's login session.
    pub fn is_user_session(&self) -> bool {
        self.kind == USER_PROCESS
            && !self.user.is_empty()
            && !PSEUDO_USERS.contains(&self.user.as_str())
    }
}

/// Every whole record in `bytes`; a trailing partial record is ignored.
pub fn records(bytes: &[u8]) -> impl DoubleEndedIterator<Item = Record> + '_ {
    bytes.chunks_exact(RECORD_SIZE).filter_map(parse_record)
}

/// One record; `None` only when `raw` is shorter than a record.
pub fn parse_record(raw: &[u8]) -> Option<Record> {
    if raw.len() < RECORD_SIZE {
        return None;
    }
    Some(Record {
        kind: i32_at(raw, 0)?,
        pid: i32_at(raw, 4)?,
        line: text_at(raw, 8, 32)?,
        user: text_at(raw, 44, 32)?,
        host: text_at(raw, 76, 256)?,
        // glibc keeps `tv_sec` 32 bits wide on 64-bit hosts for file
        // compatibility; reading it unsigned carries it past 2038.
        seconds: i64::from(u32::from_ne_bytes(array_at(raw, 340)?)),
    })
}

fn array_at(raw: &[u8], at: usize) -> Option<[u8; 4]> {
    raw.get(at..at.checked_add(4)?)?.try_into().ok()
}

fn i32_at(raw: &[u8], at: usize) -> Option<i32> {
    array_at(raw, at).map(i32::from_ne_bytes)
}

/// A NUL-padded character field, up to its first NUL (invalid UTF-8 replaced).
fn text_at(raw: &[u8], at: usize, len: usize) -> Option<String> {
    let field = raw.get(at..at.checked_add(len)?)?;
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let text = String::from_utf8_lossy(field.get(..end)?);
    Some(text.trim().to_owned())
}

/// The most recent user session in a wtmp file of `len` bytes, reading it
/// backwards in chunks of whole records so that a file of many megabytes
/// costs one chunk in the usual case.
pub fn last_user_session<F: Read + Seek>(file: &mut F, len: u64) -> io::Result<Option<Record>> {
    let record = RECORD_SIZE as u64;
    let mut end = len - len % record;
    let floor = end.saturating_sub(WTMP_SCAN_LIMIT_BYTES);
    let mut buf = vec![0u8; CHUNK_RECORDS * RECORD_SIZE];
    while end > floor {
        let start = end.saturating_sub(buf.len() as u64).max(floor);
        let start = start - start % record;
        // Bounded by `buf.len()`, so it fits in usize.
        let size = usize::try_from(end - start)
            .unwrap_or(buf.len())
            .min(buf.len());
        let chunk = buf.get_mut(..size).unwrap_or_default();
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(found) = records(chunk).rev().find(Record::is_user_session) {
            return Ok(Some(found));
        }
        end = start;
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    /// One record as glibc writes it, for tests.
    pub fn record(kind: i32, pid: i32, line: &str, user: &str, host: &str, secs: u32) -> Vec<u8> {
        let mut raw = vec![0u8; RECORD_SIZE];
        raw[0..4].copy_from_slice(&kind.to_ne_bytes());
        raw[4..8].copy_from_slice(&pid.to_ne_bytes());
        raw[8..8 + line.len()].copy_from_slice(line.as_bytes());
        raw[44..44 + user.len()].copy_from_slice(user.as_bytes());
        raw[76..76 + host.len()].copy_from_slice(host.as_bytes());
        raw[340..344].copy_from_slice(&secs.to_ne_bytes());
        raw
    }

    #[test]
    fn records_are_decoded_and_partial_tail_ignored() {
        let mut bytes = record(
            USER_PROCESS,
            812,
            "pts/0",
            "maria",
            "192.0.2.10",
            1_700_000_000,
        );
        bytes.extend(record(DEAD_PROCESS, 0, "pts/1", "", "", 1_700_000_100));
        bytes.extend_from_slice(&[7, 0, 0, 0, 1, 2]);
        let all: Vec<_> = records(&bytes).collect();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0],
            Record {
                kind: USER_PROCESS,
                pid: 812,
                line: "pts/0".into(),
                user: "maria".into(),
                host: "192.0.2.10".into(),
                seconds: 1_700_000_000,
            }
        );
        assert!(all[0].is_user_session());
        assert!(!all[1].is_user_session());
    }

    #[test]
    fn full_width_fields_without_nul_are_kept_whole() {
        let mut raw = record(USER_PROCESS, 1, "", "", "", 0);
        raw[44..76].copy_from_slice(&[b'u'; 32]);
        let rec = parse_record(&raw).unwrap();
        assert_eq!(rec.user.len(), 32);
        assert_eq!(parse_record(&raw[..383]), None);
    }

    #[test]
    fn pseudo_users_are_not_sessions() {
        let rec = parse_record(&record(USER_PROCESS, 1, "~", "reboot", "", 5)).unwrap();
        assert!(!rec.is_user_session());
    }

    #[test]
    fn last_session_is_found_behind_many_chunks() {
        let mut bytes = record(USER_PROCESS, 10, "tty1", "old", "", 100);
        bytes.extend(record(USER_PROCESS, 11, "tty2", "alex", "", 200));
        for _ in 0..1000 {
            bytes.extend(record(DEAD_PROCESS, 11, "tty2", "", "", 300));
        }
        bytes.extend_from_slice(&[1, 2, 3]);
        let len = bytes.len() as u64;
        let found = last_user_session(&mut Cursor::new(bytes), len)
            .unwrap()
            .unwrap();
        assert_eq!(found.user, "alex");
        assert_eq!(found.seconds, 200);
    }

    #[test]
    fn no_session_in_wtmp_gives_none() {
        let bytes = record(2, 0, "~", "reboot", "", 1);
        let len = bytes.len() as u64;
        assert_eq!(
            last_user_session(&mut Cursor::new(bytes), len).unwrap(),
            None
        );
        assert_eq!(
            last_user_session(&mut Cursor::new(Vec::new()), 0).unwrap(),
            None
        );
    }

    proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let count = records(&bytes).count();
            prop_assert_eq!(count, bytes.len() / RECORD_SIZE);
            let len = bytes.len() as u64;
            let _ = last_user_session(&mut Cursor::new(bytes), len).unwrap();
        }
    }
}
