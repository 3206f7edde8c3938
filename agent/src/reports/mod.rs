//! User reports: `atalaya-agent report "the printer does not print"`.
//!
//! The person at the machine is not root and the agent's state directory
//! is closed to them, so the two meet in a drop folder (`[agent]
//! reports_dir`), made by the agent like `/tmp`: everyone may create files
//! there (mode `1733`), nobody but root may list it, and nobody may remove
//! or rename another's file. The command writes the report to a hidden
//! temporary name and renames it to `ID.report` when it is whole; the
//! agent takes it into its spool (sequenced, sent, acknowledged like any
//! record) and only then removes the file, so a report survives an agent
//! that is down or a collector that is out of reach.
//!
//! Who wrote the report is the owner of the file, not something written
//! in it: a user cannot report in another's name. What became of it comes
//! back the same way, into a file only that account can read ([`status`]).

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use atalaya_common::model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::inventory::users::accounts::{UidRange, parse_passwd};
use crate::root::Root;

pub mod status;

/// Longest report text kept, in characters; the rest is cut with a mark.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Largest report file the agent reads.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Most reports taken in one pass (a user writing thousands of files
/// cannot keep the agent busy).
pub const MAX_PER_PASS: usize = 50;
/// A hidden temporary file older than this was abandoned by its writer.
const ABANDONED: Duration = Duration::from_secs(3600);
/// Where unreadable report files are moved, inside the drop folder.
pub const REJECTED: &str = "rejected";
/// Extension of a finished report file.
const EXTENSION: &str = "report";

/// The file the command writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ReportFile {
    id: String,
    written_at: Timestamp,
    text: String,
}

/// A report read from the drop folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Its id (also the file's name).
    pub id: String,
    /// When it was written.
    pub written_at: Timestamp,
    /// What the person wrote (at most [`MAX_TEXT_CHARS`]).
    pub text: String,
    /// The account owning the file, by the root's `/etc/passwd`.
    pub user: Option<String>,
    /// The file owner's uid.
    pub uid: u32,
    /// The file, to remove once the report is spooled.
    pub file: PathBuf,
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Nothing to report.
    #[error(
        "the report is empty: write what does not work, e.g. atalaya-agent report \"the printer does not print\""
    )]
    Empty,
    /// The drop folder is missing (the agent never ran) or closed to us.
    #[error("cannot write to the agent's report folder {dir}: {reason}")]
    Folder {
        /// The folder.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// A report written to the drop folder.
#[derive(Debug, Clone)]
pub struct Written {
    /// The report's id, for the person to quote.
    pub id: String,
    /// The file; gone once the agent has taken the report.
    pub file: PathBuf,
}

/// Creates the drop folder (mode `1733`), its `rejected/` folder (`0700`)
/// and its `status/` folder (`0711`); the folder's parent is made readable
/// by all so users can reach it. Run by the agent, which is root on a real host.
pub fn prepare(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::create_dir_all(dir.join(REJECTED))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o1733))?;
        fs::set_permissions(dir.join(REJECTED), fs::Permissions::from_mode(0o700))?;
    }
    status::prepare(dir)
}

/// A new report id: the time in milliseconds and the process id, in hex.
/// Unique on one machine, which is all it needs (the collector keys
/// reports by asset and id).
fn new_id(now: Timestamp) -> String {
    format!("{:x}-{:x}", now.0, std::process::id())
}

/// Writes a report for the agent to take: a hidden file first, renamed
/// when complete, so the agent never reads half a report.
pub fn write(dir: &Path, text: &str) -> Result<Written, WriteError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(WriteError::Empty);
    }
    let written_at = Timestamp::now();
    let id = new_id(written_at);
    let body = ReportFile {
        id: id.clone(),
        written_at,
        text: text.to_owned(),
    };
    let folder = |e: io::Error| WriteError::Folder {
        dir: dir.to_owned(),
        reason: if e.kind() == io::ErrorKind::NotFound {
            "it does not exist; is the Atalaya agent installed and running?".into()
        } else {
            crate::root::describe(&e)
        },
    };
    let temporary = dir.join(format!(".{id}.tmp"));
    let file = dir.join(format!("{id}.{EXTENSION}"));
    let json = serde_json::to_vec(&body).map_err(|e| folder(io::Error::other(e)))?;
    let mut f = fs::File::create(&temporary).map_err(folder)?;
    f.write_all(&json)
        .and_then(|()| f.sync_all())
        .map_err(folder)?;
    drop(f);
    fs::rename(&temporary, &file).map_err(folder)?;
    Ok(Written { id, file })
}

/// What a pass over the drop folder found.
#[derive(Debug, Default)]
pub struct Pass {
    /// Reports to spool, oldest first.
    pub reports: Vec<Report>,
    /// Files that are not reports, moved to `rejected/`, with the reason.
    pub rejected: Vec<(PathBuf, String)>,
}

/// Reads the finished reports in the drop folder (at most
/// [`MAX_PER_PASS`]), moves unreadable ones to `rejected/`, and removes
/// temporary files abandoned for an hour. Account names come from the
/// `/etc/passwd` of `root`.
pub fn take(dir: &Path, root: &Root) -> io::Result<Pass> {
    let mut pass = Pass::default();
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        // Never follow a link a user planted: only plain files count.
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if name.starts_with('.') {
            let old = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .is_some_and(|age| age > ABANDONED);
            if old && meta.is_file() {
                let _ = fs::remove_file(&path);
            }
            continue;
        }
        if meta.is_dir() && (name == REJECTED || name == status::STATUS) {
            continue;
        }
        files.push((path, meta));
    }
    files.sort_by_key(|(_, meta)| meta.modified().ok());
    let passwd = root.read("/etc/passwd").unwrap_or_default();
    let (accounts, _) = parse_passwd(&passwd, UidRange::default());
    for (path, meta) in files.into_iter().take(MAX_PER_PASS) {
        match read_one(&path, &meta) {
            Ok((body, uid)) => pass.reports.push(Report {
                id: body.id,
                written_at: body.written_at,
                text: body.text,
                user: accounts
                    .iter()
                    .find(|a| a.uid == uid)
                    .map(|a| a.name.clone()),
                uid,
                file: path,
            }),
            Err(reason) => {
                let name = path.file_name().map(|n| n.to_owned()).unwrap_or_default();
                let _ = fs::rename(&path, dir.join(REJECTED).join(name));
                pass.rejected.push((path, reason));
            }
        }
    }
    Ok(pass)
}

fn read_one(path: &Path, meta: &fs::Metadata) -> Result<(ReportFile, u32), String> {
    if !meta.is_file() {
        return Err("not a plain file".into());
    }
    if path.extension().is_none_or(|e| e != EXTENSION) {
        return Err(format!("not a .{EXTENSION} file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_FILE_BYTES} a report may have",
            meta.len()
        ));
    }
    #[cfg(unix)]
    let uid = std::os::unix::fs::MetadataExt::uid(meta);
    #[cfg(not(unix))]
    let uid = 0;
    let bytes = fs::read(path).map_err(|e| crate::root::describe(&e))?;
    let mut body: ReportFile =
        serde_json::from_slice(&bytes).map_err(|e| format!("not a report: {e}"))?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    if stem.as_deref() != Some(body.id.as_str()) {
        return Err(format!(
            "its id {:?} is not its file name",
            body.id.chars().take(40).collect::<String>()
        ));
    }
    body.text = body.text.trim().to_owned();
    if body.text.is_empty() {
        return Err("the report is empty".into());
    }
    if body.text.chars().count() > MAX_TEXT_CHARS {
        body.text = body.text.chars().take(MAX_TEXT_CHARS).collect::<String>() + " […]";
    }
    Ok((body, uid))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;

    fn folder() -> (tempfile::TempDir, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("reports");
        prepare(&dir).unwrap();
        (t, dir)
    }

    #[test]
    fn a_written_report_is_taken_with_its_owner() {
        let (_t, dir) = folder();
        let root = tempfile::tempdir().unwrap();
        let me = std::os::unix::fs::MetadataExt::uid(&fs::metadata(&dir).unwrap());
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(
            root.path().join("etc/passwd"),
            format!("maria:x:{me}:{me}:Maria:/home/maria:/bin/bash\n"),
        )
        .unwrap();
        let written = write(&dir, "  the printer does not print\n").unwrap();
        assert!(written.file.exists());
        let pass = take(&dir, &Root::new(root.path())).unwrap();
        assert_eq!(pass.reports.len(), 1, "{pass:?}");
        let r = &pass.reports[0];
        assert_eq!(r.id, written.id);
        assert_eq!(r.text, "the printer does not print");
        assert_eq!(r.user.as_deref(), Some("maria"));
        assert_eq!(r.uid, me);
        assert_eq!(r.file, written.file);
        // Still there until spooled: the caller removes it.
        assert!(r.file.exists());
    }

    #[test]
    fn the_folder_is_writable_by_all_and_listable_by_none() {
        use std::os::unix::fs::PermissionsExt as _;
        let (_t, dir) = folder();
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o1733);
        let mode = fs::metadata(dir.join(REJECTED))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn an_empty_report_is_refused_and_a_missing_folder_named() {
        let (_t, dir) = folder();
        assert!(matches!(write(&dir, " \n "), Err(WriteError::Empty)));
        let err = write(&dir.join("nope"), "x").unwrap_err().to_string();
        assert!(
            err.contains("nope") && err.contains("does not exist"),
            "{err}"
        );
    }

    #[test]
    fn bad_files_are_moved_aside_with_their_reason_and_links_not_followed() {
        let (_t, dir) = folder();
        let root = Root::new("/nonexistent-root");
        fs::write(dir.join("garbage.report"), b"\x00\x01not json").unwrap();
        fs::write(dir.join("notes.txt"), b"hello").unwrap();
        fs::write(
            dir.join("big.report"),
            vec![b' '; MAX_FILE_BYTES as usize + 1],
        )
        .unwrap();
        fs::write(
            dir.join("other.report"),
            r#"{"id":"someone-else","written_at":"2026-11-28T10:00:00Z","text":"x"}"#,
        )
        .unwrap();
        let secret = dir.parent().unwrap().join("secret");
        fs::write(
            &secret,
            r#"{"id":"link","written_at":"2026-11-28T10:00:00Z","text":"x"}"#,
        )
        .unwrap();
        std::os::unix::fs::symlink(&secret, dir.join("link.report")).unwrap();
        let pass = take(&dir, &root).unwrap();
        assert!(pass.reports.is_empty(), "{pass:?}");
        let mut reasons: Vec<String> = pass
            .rejected
            .iter()
            .map(|(p, why)| format!("{}: {why}", p.file_name().unwrap().to_string_lossy()))
            .collect();
        reasons.sort();
        assert_eq!(reasons.len(), 5, "{reasons:?}");
        assert!(
            reasons[0].starts_with("big.report: 65537 bytes"),
            "{reasons:?}"
        );
        assert!(
            reasons[1].starts_with("garbage.report: not a report"),
            "{reasons:?}"
        );
        assert_eq!(reasons[2], "link.report: not a plain file");
        assert_eq!(reasons[3], "notes.txt: not a .report file");
        assert!(
            reasons[4].starts_with("other.report: its id"),
            "{reasons:?}"
        );
        // Moved aside, the folder is clean; the link's target is untouched.
        assert_eq!(take(&dir, &root).unwrap().rejected.len(), 0);
        assert!(secret.exists());
        assert!(dir.join(REJECTED).join("garbage.report").exists());
    }

    #[test]
    fn a_long_report_is_cut_and_unknown_owners_have_no_name() {
        let (_t, dir) = folder();
        let long = "é".repeat(MAX_TEXT_CHARS + 10);
        write(&dir, &long).unwrap();
        let pass = take(&dir, &Root::new("/nonexistent-root")).unwrap();
        let r = &pass.reports[0];
        assert_eq!(r.text.chars().count(), MAX_TEXT_CHARS + 4);
        assert!(r.text.ends_with(" […]"));
        assert_eq!(r.user, None);
    }
}
