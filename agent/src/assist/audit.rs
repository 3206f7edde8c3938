//! The machine's own record of remote assistance: one JSON line per
//! request in `<state_dir>/assist.log`, whatever became of it. When the
//! file passes its cap it becomes `assist.log.1` (the one before is
//! dropped), so the record never fills the disk.

use std::io::Write;
use std::path::Path;

use atalaya_common::assist::{Action, DiagOutcome};
use atalaya_common::model::Timestamp;
use serde::Serialize;

/// The log's file name in the state directory.
pub const FILE: &str = "assist.log";
/// Size at which the log is rotated.
pub const MAX_BYTES: u64 = 1 << 20;

/// One line of the log.
#[derive(Debug, Clone, Serialize)]
pub struct Entry<'a> {
    /// When the request came.
    pub at: Timestamp,
    /// The request's id.
    pub id: &'a str,
    /// The help-desk login that asked (`None`: the order could not be read as signed).
    pub requested_by: Option<&'a str>,
    /// The incident it was asked for.
    pub incident: Option<u64>,
    /// The action and its arguments.
    pub action: String,
    /// `completed`, `failed`, `timed-out`, `refused`.
    pub outcome: &'static str,
    /// The reason of a failure or refusal.
    pub reason: Option<String>,
    /// Bytes of output sent back.
    pub bytes: usize,
    /// Whether the output was cut.
    pub truncated: bool,
    /// How long it took, ms.
    pub duration_ms: u64,
}

impl<'a> Entry<'a> {
    /// The line for a request, from its parts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        at: Timestamp,
        id: &'a str,
        requested_by: Option<&'a str>,
        incident: Option<u64>,
        action: &Action,
        outcome: &DiagOutcome,
        bytes: usize,
        truncated: bool,
        duration_ms: u64,
    ) -> Self {
        Self {
            at,
            id,
            requested_by,
            incident,
            action: action.to_string(),
            outcome: outcome.name(),
            reason: outcome.reason(),
            bytes,
            truncated,
            duration_ms,
        }
    }
}

/// Appends `entry` to the log in `state_dir`, rotating it past `max_bytes`.
pub fn append(state_dir: &Path, entry: &Entry<'_>, max_bytes: u64) -> std::io::Result<()> {
    let path = state_dir.join(FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= max_bytes) {
        std::fs::rename(&path, state_dir.join(format!("{FILE}.1")))?;
    }
    let mut line = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    // One write per line: lines of concurrent requests do not interleave.
    file.write_all(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_and_the_file_rotated_past_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let action = Action::DiskUsage {
            path: "/var".into(),
        };
        let outcome = DiagOutcome::Refused {
            reason: "not allowed".into(),
        };
        let entry = Entry::new(
            Timestamp::from_secs(1_800_000_000),
            "d-1",
            Some("ana"),
            Some(7),
            &action,
            &outcome,
            0,
            false,
            3,
        );
        let line_len = serde_json::to_vec(&entry).unwrap().len() as u64 + 1;
        for _ in 0..3 {
            append(dir.path(), &entry, 2 * line_len).unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["requested_by"], "ana");
        assert_eq!(first["incident"], 7);
        assert_eq!(first["action"], "disk-usage /var");
        assert_eq!(first["outcome"], "refused");
        assert_eq!(first["reason"], "not allowed");
        assert_eq!(first["at"], "2027-01-15T08:00:00Z");
        // The third line found the file over its cap: it moved aside.
        assert_eq!(text.lines().count(), 1);
        let old = std::fs::read_to_string(dir.path().join(format!("{FILE}.1"))).unwrap();
        assert_eq!(old.lines().count(), 2);
    }
}
