//! What became of the reports: the person who wrote one reads its
//! incident's status, who has it and the help desk's last public note with
//! `atalaya-agent reports`.
//!
//! The collector sends the status of the machine's reports over the data
//! session (`ReportStatus`), whole, whenever one changes. The agent files
//! each account's own reports in `status/UID.json` inside the drop folder:
//! the `status/` folder is root's with mode `0711` (anyone may open a file
//! in it by name, nobody may list it or create in it), each file is owned
//! by its account with mode `0400`. So an account reads its own reports and
//! nobody else's, and nothing it does can change what another account reads.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use atalaya_common::model::Timestamp;
use atalaya_common::proto::ReportState;
use serde::{Deserialize, Serialize};

/// The folder of the status files, inside the drop folder.
pub const STATUS: &str = "status";
/// Largest status file `atalaya-agent reports` reads.
const MAX_FILE_BYTES: u64 = 4 << 20;

/// One account's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusFile {
    /// When the agent last heard from the collector about these reports.
    pub received_at: Timestamp,
    /// The account's reports, newest first.
    pub reports: Vec<ReportState>,
}

/// What filing a status list did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Filed {
    /// Accounts whose file was written.
    pub written: usize,
    /// Files of accounts with no report left, removed.
    pub removed: usize,
    /// Accounts whose file could not be written, with why.
    pub failed: Vec<(u32, String)>,
}

/// Why `atalaya-agent reports` could not read the reports.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file exists but cannot be read.
    #[error("cannot read {file}: {reason}")]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file is not what the agent writes.
    #[error(
        "{file} is damaged ({reason}); it is rewritten when the help desk next changes one of your reports"
    )]
    Damaged {
        /// The file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Creates `status/` in the drop folder, root's, mode `0711`.
pub fn prepare(dir: &Path) -> io::Result<()> {
    let status = dir.join(STATUS);
    fs::create_dir_all(&status)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&status, fs::Permissions::from_mode(0o711))?;
    }
    Ok(())
}

/// The file of the account `uid`.
pub fn file_of(dir: &Path, uid: u32) -> PathBuf {
    dir.join(STATUS).join(format!("{uid}.json"))
}

/// Files the whole list the collector sent: each account's file is
/// replaced (written aside, then renamed, so a reader never sees half of
/// it), and the files of accounts with no report in the list are removed.
/// Reports of no known account are kept by nobody.
pub fn file(dir: &Path, reports: &[ReportState], now: Timestamp) -> io::Result<Filed> {
    prepare(dir)?;
    let mut by_account: BTreeMap<u32, Vec<ReportState>> = BTreeMap::new();
    for report in reports {
        if let Some(uid) = report.uid {
            by_account.entry(uid).or_default().push(report.clone());
        }
    }
    let mut filed = Filed::default();
    for (uid, reports) in &by_account {
        let body = StatusFile {
            received_at: now,
            reports: reports.clone(),
        };
        match write_one(dir, *uid, &body) {
            Ok(()) => filed.written += 1,
            Err(err) => filed.failed.push((*uid, crate::root::describe(&err))),
        }
    }
    let kept: BTreeSet<String> = by_account.keys().map(|uid| format!("{uid}.json")).collect();
    for entry in fs::read_dir(dir.join(STATUS))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.ends_with(".json") || name.starts_with('.');
        if ours && !kept.contains(&name) && fs::remove_file(entry.path()).is_ok() {
            filed.removed += usize::from(!name.starts_with('.'));
        }
    }
    Ok(filed)
}

fn write_one(dir: &Path, uid: u32, body: &StatusFile) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(body).map_err(io::Error::other)?;
    let target = file_of(dir, uid);
    let temporary = dir.join(STATUS).join(format!(".{uid}.tmp"));
    let _ = fs::remove_file(&temporary);
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)?;
        f.write_all(&json)?;
        f.sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // Owned by the account only when it is not this process's:
            // an agent run unprivileged (a developer's) keeps its own.
            if uid != rustix::process::geteuid().as_raw() {
                std::os::unix::fs::fchown(&f, Some(uid), None)?;
            }
            f.set_permissions(fs::Permissions::from_mode(0o400))?;
        }
        fs::rename(&temporary, &target)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// The reports of the account running this, as the agent last filed them;
/// `None` when the agent has filed none for it.
pub fn read_own(dir: &Path) -> Result<Option<StatusFile>, ReadError> {
    #[cfg(unix)]
    let uid = rustix::process::getuid().as_raw();
    #[cfg(not(unix))]
    let uid = 0;
    read(&file_of(dir, uid))
}

fn read(file: &Path) -> Result<Option<StatusFile>, ReadError> {
    let unreadable = |e: io::Error| ReadError::Unreadable {
        file: file.to_owned(),
        reason: crate::root::describe(&e),
    };
    let meta = match fs::metadata(file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e)),
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(ReadError::Damaged {
            file: file.to_owned(),
            reason: format!("{} bytes, more than the agent writes", meta.len()),
        });
    }
    let bytes = fs::read(file).map_err(unreadable)?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| ReadError::Damaged {
            file: file.to_owned(),
            reason: e.to_string(),
        })
}

/// Writes the reports as a person reads them: one block per report, the
/// newest first.
pub fn write_table(out: &mut impl io::Write, file: Option<&StatusFile>) -> io::Result<()> {
    let Some(file) = file.filter(|f| !f.reports.is_empty()) else {
        return writeln!(
            out,
            "The help desk has no report of yours from this machine yet. A report written in the last minutes may still be on its way: `atalaya-agent report \"what does not work\"` writes one."
        );
    };
    for (i, r) in file.reports.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        writeln!(out, "Report {}, written {}", r.id, day_minute(r.written_at))?;
        writeln!(out, "  {}", r.summary)?;
        match (r.incident, r.status.as_deref()) {
            (Some(incident), Some(status)) => {
                let who = r
                    .assignee
                    .as_deref()
                    .map_or_else(|| "nobody yet".to_owned(), str::to_owned);
                writeln!(
                    out,
                    "  Incident {incident}: {status}, with {who}; last change {}",
                    day_minute(r.updated_at)
                )?;
            }
            _ => writeln!(out, "  Received by the help desk; not yet an incident")?,
        }
        if let Some(note) = &r.note {
            writeln!(
                out,
                "  Note from {} ({}): {}",
                note.author,
                day_minute(note.at),
                note.text
            )?;
        }
    }
    writeln!(
        out,
        "\n(as the help desk told this machine at {})",
        day_minute(file.received_at)
    )
}

/// `2026-12-02 10:14 UTC`.
fn day_minute(t: Timestamp) -> String {
    match t.to_rfc3339() {
        Some(s) if s.len() >= 16 => format!("{} {} UTC", &s[..10], &s[11..16]),
        _ => t.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use super::*;
    use atalaya_common::proto::PublicNote;

    fn state(id: &str, uid: Option<u32>) -> ReportState {
        ReportState {
            id: id.into(),
            uid,
            written_at: Timestamp::from_secs(1_795_000_000),
            summary: format!("report {id}"),
            incident: Some(7),
            status: Some("acknowledged".into()),
            assignee: Some("ana".into()),
            updated_at: Timestamp::from_secs(1_795_000_600),
            note: Some(PublicNote {
                at: Timestamp::from_secs(1_795_000_600),
                author: "ana".into(),
                text: "a new toner is on its way".into(),
            }),
        }
    }

    #[test]
    fn each_account_gets_its_own_reports_and_stale_files_go() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        let me = rustix::process::geteuid().as_raw();
        let now = Timestamp::from_secs(1_795_001_000);
        let list = [state("a", Some(me)), state("b", None), state("c", Some(me))];
        let filed = file(dir, &list, now).unwrap();
        assert_eq!((filed.written, filed.removed), (1, 0));
        assert!(filed.failed.is_empty(), "{:?}", filed.failed);
        let mine = read(&file_of(dir, me)).unwrap().unwrap();
        let ids: Vec<&str> = mine.reports.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "c"], "the report of no account is nobody's");
        assert_eq!(mine.received_at, now);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode(&dir.join(STATUS)), 0o711);
            assert_eq!(mode(&file_of(dir, me)), 0o400);
        }
        // A later list without this account's reports removes its file.
        let filed = file(dir, &[state("b", None)], now).unwrap();
        assert_eq!((filed.written, filed.removed), (0, 1));
        assert_eq!(read(&file_of(dir, me)).unwrap(), None);
    }

    #[test]
    fn a_damaged_file_is_named_and_the_table_reads_as_sentences() {
        let t = tempfile::tempdir().unwrap();
        prepare(t.path()).unwrap();
        let path = file_of(t.path(), 4242);
        fs::write(&path, b"{not json").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(
            err.contains("4242.json is damaged") && err.contains("rewritten"),
            "{err}"
        );

        let file = StatusFile {
            received_at: Timestamp::from_secs(1_795_001_000),
            reports: vec![state("19ab-1f", Some(1000)), {
                let mut waiting = state("19ac-20", Some(1000));
                waiting.incident = None;
                waiting.status = None;
                waiting.note = None;
                waiting
            }],
        };
        let mut out = Vec::new();
        write_table(&mut out, Some(&file)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Report 19ab-1f, written 2026-11-18 11:06 UTC\n  report 19ab-1f\n  Incident 7: acknowledged, with ana; last change 2026-11-18 11:16 UTC\n  Note from ana (2026-11-18 11:16 UTC): a new toner is on its way\n"),
            "{text}"
        );
        assert!(
            text.contains("Report 19ac-20, written 2026-11-18 11:06 UTC\n  report 19ac-20\n  Received by the help desk; not yet an incident\n"),
            "{text}"
        );
        let mut out = Vec::new();
        write_table(&mut out, None).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .starts_with("The help desk has no report of yours")
        );
    }
}
